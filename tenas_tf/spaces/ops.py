"""Candidate operations of the NAS-Bench-201 space as serialisable Keras layers.

Every op keeps PyTorch's geometry: symmetric zero padding (TensorFlow's 'same' at stride 1 with an
odd kernel, which is symmetric; explicit padding and a 'valid' convolution at stride 2, where
'same' would pad asymmetrically), biases off, BatchNorm with PyTorch's epsilon and momentum.

`ReLU`, `BatchNorm`, `AvgPool3x3` and the conv + BN pair of `ReLUConvBN` differentiate through
`tenas_tf.spaces.pfor_gradients`, whose gradients vectorise well in the NTK's `tape.jacobian`;
inside `gradients.tensorflow_gradients()` (the tests' oracle) they use TensorFlow's own instead.

The end of the module is NB201's op registry (`NB201_REGISTRY`, an `OpRegistry`: op name -> layer
factory), the shape `darts_ops.DARTS_REGISTRY` shares.
Reference: NAS-Bench-201 (Dong & Yang, ICLR 2020) section 2.1, its five candidate ops.
"""

import dataclasses
import types
from typing import Callable, Mapping

import tensorflow as tf
import keras

from tenas_tf import checks
from tenas_tf.spaces import batched_backward
from tenas_tf.spaces import gradients
from tenas_tf.spaces import init as init_lib
from tenas_tf.spaces import pfor_gradients

_SERIAL_PACKAGE = "tenas_tf"
# PyTorch BatchNorm2d defaults (eps 1e-5, momentum 0.1 == Keras momentum 0.9).
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9


def batch_norm(name=None):
  return BatchNorm(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)


def conv2d(filters, kernel_size, strides, init, padding="valid", name=None):
  return keras.layers.Conv2D(
      filters, kernel_size, strides=strides, padding=padding, use_bias=False,
      kernel_initializer=init_lib.kernel_initializer(init), name=name)


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class ReLU(keras.layers.ReLU):
  """`keras.layers.ReLU` (plain max(x, 0) only) with a vectorisation-friendly gradient.

  Still a `keras.layers.ReLU`, so `num_linear_regions` records its sign pattern. Inside
  `gradients.tensorflow_gradients()` it is Keras' ReLU, with TensorFlow's gradient.
  """

  def call(self, inputs):
    if (gradients.hand_written_gradients() and self.max_value is None
        and not self.negative_slope and not self.threshold):
      return pfor_gradients.relu(inputs)
    return super().call(inputs)


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class BatchNorm(keras.layers.BatchNormalization):
  """`keras.layers.BatchNormalization` whose training-mode gradient vectorises well.

  In training mode (batch statistics) it computes exactly what Keras computes, updates the moving
  statistics as Keras does (`moving = momentum * moving + (1 - momentum) * batch`, biased batch
  variance), and differentiates through `pfor_gradients.batch_norm_training`. Inference mode,
  masks, synchronised or renormalised BN, layers without centre or scale, and dtypes other than
  float32 defer to Keras, as does everything inside `gradients.tensorflow_gradients()`. A
  registered subclass, so `ntk_variables` and `initialize` treat it as BN.
  """

  def uses_own_training_path(self, inputs, training, mask=None):
    """Whether `call` normalises with `pfor_gradients.batch_norm_training` (plain BN, batch
    statistics, hand-written gradients on)."""
    return bool(gradients.hand_written_gradients() and training and self.trainable
                and mask is None and not self.synchronized and not self.renorm
                and self.center and self.scale
                and self.axis in (-1, len(inputs.shape) - 1) and inputs.dtype == tf.float32
                and self.compute_dtype == "float32")

  def update_moving_statistics(self, mean, variance):
    """Keras' update: moving = momentum * moving + (1 - momentum) * batch (biased variance)."""
    self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
    self.moving_variance.assign(
        self.moving_variance * self.momentum + variance * (1.0 - self.momentum))

  def call(self, inputs, training=None, mask=None):
    if not self.uses_own_training_path(inputs, training, mask):
      return super().call(inputs, training=training, mask=mask)
    outputs, mean, variance = pfor_gradients.batch_norm_training(
        inputs, tf.convert_to_tensor(self.gamma), tf.convert_to_tensor(self.beta), self.epsilon)
    self.update_moving_statistics(mean, variance)
    return outputs


class PreActivationConv(keras.layers.Layer):
  """Base of the pre-activation conv blocks: ReLU -> zero-pad -> the subclass's convs and BN.

  The ReLU is a `keras.layers.ReLU` sublayer so that `num_linear_regions` sees its sign pattern.
  Where the first conv's 'same' padding is PyTorch's symmetric padding (stride 1, odd effective
  kernel) the conv pads itself (one pass less over the activations and their gradients);
  otherwise an explicit `ZeroPadding2D` precedes a 'valid' conv. A subclass creates both with
  `_add_relu_and_pad` before its convs (creation order is weight-drawing order), builds them
  with `_build_relu_and_pad` and runs them with `_relu_and_pad`.
  """

  def _add_relu_and_pad(self, padding):
    """`padding`: cells per side, or None where the conv pads 'same' itself."""
    self.relu = ReLU(name="relu")
    self.pad = None if padding is None else keras.layers.ZeroPadding2D(padding, name="pad")

  def _padded_shape(self, input_shape):
    return input_shape if self.pad is None else self.pad.compute_output_shape(input_shape)

  def _build_relu_and_pad(self, input_shape):
    """Builds the ReLU and the padding; returns the first conv's input shape."""
    self.relu.build(input_shape)
    if self.pad is not None:
      self.pad.build(input_shape)
    return self._padded_shape(input_shape)

  def _relu_and_pad(self, inputs):
    x = self.relu(inputs)
    return x if self.pad is None else self.pad(x)


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class ReLUConvBN(PreActivationConv):
  """Pre-activation conv block: ReLU -> zero-pad -> Conv k x k (no bias) -> BN.

  The NB201 `nor_conv_kxk` op and the convs of the ResNet reduction block. At stride 1 with an
  odd kernel the padding is the convolution's own 'same'; otherwise an explicit `ZeroPadding2D`
  (`PreActivationConv`).

  Args:
    filters: output channels.
    kernel_size: odd int; padding is kernel_size // 2 on every side, as in PyTorch.
    strides: 1 or 2.
    init: initialisation scheme, see `tenas_tf.spaces.init.INIT_SCHEMES`.
  """

  def __init__(self, filters, kernel_size, strides=1, init="pytorch_default", **kwargs):
    super().__init__(**kwargs)
    self.filters = checks.integer("filters", filters, 1)
    self.kernel_size = checks.integer("kernel_size", kernel_size, 1)
    self.strides = checks.integer("strides", strides, 1)
    self.init = init_lib.check_init_scheme(init)
    same = strides == 1 and kernel_size % 2 == 1
    self._add_relu_and_pad(None if same else kernel_size // 2)
    self.conv = conv2d(filters, kernel_size, strides, init, padding="same" if same else "valid",
                       name="conv")
    self.bn = batch_norm(name="bn")

  def build(self, input_shape):
    padded = self._build_relu_and_pad(input_shape)
    self.conv.build(padded)
    self.bn.build(self.conv.compute_output_shape(padded))

  def call(self, inputs, training=None):
    x = self._relu_and_pad(inputs)
    # Conv input and output have the same rank and dtype, which is all the BN check looks at.
    fused = (self.bn.uses_own_training_path(x, training)
             and pfor_gradients.basis_fits(x.shape, self.filters)
             and pfor_gradients.basis_fits(self.conv.compute_output_shape(x.shape), self.filters))
    if not fused:
      return self.bn(self.conv(x), training=training)
    outputs, mean, variance = pfor_gradients.conv_batch_norm_training(
        x, tf.convert_to_tensor(self.conv.kernel), tf.convert_to_tensor(self.bn.gamma),
        tf.convert_to_tensor(self.bn.beta), self.strides, self.conv.padding.upper(),
        self.bn.epsilon)
    self.bn.update_moving_statistics(mean, variance)
    return outputs

  def jacobian_primitives(self):
    """The block as `batched_backward` primitives: one traced step forward, one per chunk back."""
    return [primitive for layer in (self.relu, self.pad, self.conv, self.bn) if layer is not None
            for primitive in batched_backward.primitives_of(layer)]

  def compute_output_shape(self, input_shape):
    return self.conv.compute_output_shape(self._padded_shape(input_shape))

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, kernel_size=self.kernel_size,
                  strides=self.strides, init=self.init)
    return config


def strided_shape(input_shape, strides):
  """[B, H, W, C] -> [B, ceil(H / strides), ceil(W / strides), C]; unknown sides stay None.

  The output shape of a 3x3 window with padding 1, and of a 1x1 sample without padding, at
  `strides`: the weightless strided ops (`StridedOp`) and a supernet edge's strided zeros.
  """
  def side(size):
    return None if size is None else (size - 1) // strides + 1
  return (input_shape[0], side(input_shape[1]), side(input_shape[2]), input_shape[3])


class StridedOp(keras.layers.Layer):
  """Base of the weightless ops whose only argument is a stride (pools, strided zeros).

  Holds, validates and serialises `strides`; the output side is ceil(side / strides)
  (`strided_shape`). A subclass implements `call`, and may narrow the strides it accepts.

  Args:
    strides: an int >= 1.
  """

  def __init__(self, strides=1, **kwargs):
    super().__init__(**kwargs)
    self.strides = checks.integer("strides", strides, 1)

  def compute_output_shape(self, input_shape):
    return strided_shape(input_shape, self.strides)

  def get_config(self):
    config = super().get_config()
    config.update(strides=self.strides)
    return config


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class AvgPool3x3(StridedOp):
  """3x3 average pool, pad 1, padded cells NOT counted (PyTorch `count_include_pad=False`).

  Args:
    strides: 1 or 2.
  """

  def call(self, inputs):
    if self.strides == 1:
      if not gradients.hand_written_gradients():
        return tf.nn.avg_pool2d(inputs, 3, 1, "SAME")  # TensorFlow's 'SAME' excludes padding
      return pfor_gradients.avg_pool_3x3_same(inputs)
    return _mean_of_valid_cells_forward((self.strides,), inputs)[0]

  def jacobian_primitives(self):
    """The pool as `batched_backward` primitives: the same means, TF's pool gradient."""
    if self.strides == 1:
      return [batched_backward.avg_pool(3, 1, "SAME")]
    return [batched_backward.Primitive(_MEAN_OF_VALID_CELLS, (self.strides,))]


def _valid_fraction(ones, strides):
  """[1, H', W', 1]: the share of each 3x3 window (padding 1, `strides`) inside the image, from
  `ones`, [1, H, W, 1]."""
  return tf.nn.avg_pool2d(tf.pad(ones, pfor_gradients.PAD_1), 3, strides, "VALID")


def _mean_of_valid_cells_forward(settings, x):
  # 'SAME' would pad asymmetrically at stride 2: pad explicitly and divide by the cell count.
  (strides,) = settings
  window_mean = tf.nn.avg_pool2d(tf.pad(x, pfor_gradients.PAD_1), 3, strides, "VALID")
  fraction = _valid_fraction(tf.ones_like(x[:1, :, :, :1]), strides)
  return window_mean / fraction, (x, fraction)  # x: for its shape


def _mean_of_valid_cells_backward(settings, input_cotangents, cotangents, saved, weights):
  del input_cotangents, weights
  (strides,), (x, fraction) = settings, saved
  k, (n, height, width, channels) = cotangents.shape[0], x.shape
  padded = tf.raw_ops.AvgPoolGrad(
      orig_input_shape=[k * n, height + 2, width + 2, channels],
      grad=batched_backward.fold(cotangents / fraction), ksize=[1, 3, 3, 1],
      strides=[1, strides, strides, 1], padding="VALID")
  return batched_backward.unfold(padded, k)[:, :, 1:-1, 1:-1, :], ()


# A strided `AvgPool3x3`: each 3x3 window's mean over its cells inside the image.
_MEAN_OF_VALID_CELLS = batched_backward.Kind("mean_of_valid_cells", _mean_of_valid_cells_forward,
                                             _mean_of_valid_cells_backward)


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class Identity(keras.layers.Layer):
  """`skip_connect` at stride 1 with equal channels."""

  def call(self, inputs):
    return tf.identity(inputs)

  def jacobian_forward(self, inputs, rows):
    """(outputs, backward) for `batched_backward`."""
    del rows  # no weights
    return inputs, lambda cotangents: cotangents

  def compute_output_shape(self, input_shape):
    return input_shape


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class Zero(keras.layers.Layer):
  """The `none` op: outputs zeros of the input's shape (no weights, no ReLU)."""

  def call(self, inputs):
    return tf.zeros_like(inputs)

  def compute_output_shape(self, input_shape):
    return input_shape


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class ResNetBlock(keras.layers.Layer):
  """NB201's reduction block between stages.

  ReLUConvBN 3x3 (stride 2) -> ReLUConvBN 3x3, plus a shortcut 2x2 average pool -> 1x1 conv
  (no BN), summed. Reference: NAS-Bench-201 (Dong & Yang, ICLR 2020) section 2.1 (the residual
  block between stages).

  Args:
    filters: output channels (twice the input channels in NB201).
    init: initialisation scheme.
  """

  def __init__(self, filters, init="pytorch_default", **kwargs):
    super().__init__(**kwargs)
    self.filters = checks.integer("filters", filters, 1)
    self.init = init_lib.check_init_scheme(init)
    self.conv_a = ReLUConvBN(filters, 3, 2, init, name="conv_a")
    self.conv_b = ReLUConvBN(filters, 3, 1, init, name="conv_b")
    self.shortcut_pool = keras.layers.AveragePooling2D(2, 2, padding="valid", name="shortcut_pool")
    self.shortcut_conv = conv2d(filters, 1, 1, init, name="shortcut_conv")

  def build(self, input_shape):
    self.conv_a.build(input_shape)
    mid = self.conv_a.compute_output_shape(input_shape)
    self.conv_b.build(mid)
    pooled = self.shortcut_pool.compute_output_shape(input_shape)
    self.shortcut_conv.build(pooled)

  def call(self, inputs, training=None):
    residual = self.conv_b(self.conv_a(inputs, training=training), training=training)
    return residual + self.shortcut_conv(self.shortcut_pool(inputs))

  def jacobian_forward(self, inputs, rows):
    """Training-mode (outputs, backward) for `batched_backward`."""
    return batched_backward.added([
        batched_backward.sequence([self.conv_a, self.conv_b], inputs, rows),
        batched_backward.sequence([self.shortcut_pool, self.shortcut_conv], inputs, rows)])

  def compute_output_shape(self, input_shape):
    return self.conv_a.compute_output_shape(input_shape)[:3] + (self.filters,)

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, init=self.init)
    return config


@dataclasses.dataclass(frozen=True)
class OpRegistry:
  """A search space's candidate ops: op name -> layer factory, in mask-column order.

  The one registry shape of both spaces (`NB201_REGISTRY` here, `darts_ops.DARTS_REGISTRY`):
  a `MixedEdge` builds its ops from its space's registry by name, so adding an op is one entry.

  Attributes:
    factories: op name -> (channels, strides, init, name) -> unbuilt Keras layer mapping
      `channels` to `channels` at `strides`; the mapping's order is the mask's column order.
    strides: the strides the space's edges take.

  Example:
    >>> NB201_REGISTRY.build("nor_conv_3x3", 16, 1, "pytorch_default", name="op")
  """

  factories: Mapping[str, Callable]
  strides: tuple

  @property
  def names(self):
    """The op names, in mask-column order."""
    return tuple(self.factories)

  def build(self, op, channels, strides=1, init="pytorch_default", name=None):
    """The unbuilt layer of `op`; raises ValueError for an unknown op, stride or init."""
    checks.one_of("op", op, self.names)
    checks.one_of("strides", checks.integer("strides", strides, 1), self.strides)
    init_lib.check_init_scheme(init)
    return self.factories[op](channels, strides, init, name)


def _nor_conv(kernel_size):
  return lambda channels, strides, init, name: ReLUConvBN(channels, kernel_size, strides, init,
                                                          name=name)


# NB201's op registry; every edge has stride 1 (the ResNet blocks reduce).
NB201_REGISTRY = OpRegistry(
    factories=types.MappingProxyType({
        "none": lambda channels, strides, init, name: Zero(name=name),
        "skip_connect": lambda channels, strides, init, name: Identity(name=name),
        "nor_conv_1x1": _nor_conv(1),
        "nor_conv_3x3": _nor_conv(3),
        "avg_pool_3x3": lambda channels, strides, init, name: AvgPool3x3(strides, name=name),
    }),
    strides=(1,))
NB201_OPS = NB201_REGISTRY.names
