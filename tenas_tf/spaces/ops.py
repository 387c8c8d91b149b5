"""Candidate operations of the NAS-Bench-201 space as serialisable Keras layers.

Every op keeps PyTorch's geometry: explicit symmetric zero padding followed by a 'valid'
convolution (TensorFlow's 'same' pads asymmetrically at stride 2), biases off, BatchNorm with
PyTorch's epsilon and momentum. Reference: TENAS_SPEC.md section 1.
"""

import tensorflow as tf
import keras

from tenas_tf.spaces import init as init_lib

_SERIAL_PACKAGE = "tenas_tf"
# PyTorch BatchNorm2d defaults (eps 1e-5, momentum 0.1 == Keras momentum 0.9).
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9


def batch_norm(name=None):
  return keras.layers.BatchNormalization(
      epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)


def conv2d(filters, kernel_size, strides, init, name=None):
  return keras.layers.Conv2D(
      filters, kernel_size, strides=strides, padding="valid", use_bias=False,
      kernel_initializer=init_lib.kernel_initializer(init), name=name)


def _check_positive_int(name, value):
  if not isinstance(value, int) or isinstance(value, bool) or value < 1:
    raise ValueError(f"{name} must be a positive int; got {value!r}")


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class ReLUConvBN(keras.layers.Layer):
  """Pre-activation conv block: ReLU -> zero-pad -> Conv k x k (no bias) -> BN.

  The NB201 `nor_conv_kxk` op and the convs of the ResNet reduction block. Its ReLU is a
  `keras.layers.ReLU` sublayer so that `num_linear_regions` sees its sign pattern.

  Args:
    filters: output channels.
    kernel_size: odd int; padding is kernel_size // 2 on every side, as in PyTorch.
    strides: 1 or 2.
    init: initialisation scheme, see `tenas_tf.spaces.init.INIT_SCHEMES`.
  """

  def __init__(self, filters, kernel_size, strides=1, init="pytorch_default", **kwargs):
    super().__init__(**kwargs)
    _check_positive_int("filters", filters)
    _check_positive_int("kernel_size", kernel_size)
    _check_positive_int("strides", strides)
    self.filters = filters
    self.kernel_size = kernel_size
    self.strides = strides
    self.init = init_lib.check_init_scheme(init)
    self.relu = keras.layers.ReLU(name="relu")
    self.pad = keras.layers.ZeroPadding2D(kernel_size // 2, name="pad")
    self.conv = conv2d(filters, kernel_size, strides, init, name="conv")
    self.bn = batch_norm(name="bn")

  def build(self, input_shape):
    self.relu.build(input_shape)
    self.pad.build(input_shape)
    padded = self.pad.compute_output_shape(input_shape)
    self.conv.build(padded)
    self.bn.build(self.conv.compute_output_shape(padded))

  def call(self, inputs, training=None):
    x = self.conv(self.pad(self.relu(inputs)))
    return self.bn(x, training=training)

  def compute_output_shape(self, input_shape):
    padded = self.pad.compute_output_shape(input_shape)
    return self.conv.compute_output_shape(padded)

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, kernel_size=self.kernel_size,
                  strides=self.strides, init=self.init)
    return config


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class AvgPool3x3(keras.layers.Layer):
  """3x3 average pool, pad 1, padded cells NOT counted (PyTorch `count_include_pad=False`).

  Args:
    strides: 1 or 2.
  """

  def __init__(self, strides=1, **kwargs):
    super().__init__(**kwargs)
    _check_positive_int("strides", strides)
    self.strides = strides

  def call(self, inputs):
    paddings = [[0, 0], [1, 1], [1, 1], [0, 0]]
    window_sum = tf.nn.avg_pool2d(tf.pad(inputs, paddings), 3, self.strides, "VALID")
    ones = tf.ones_like(inputs[:1, :, :, :1])
    valid_fraction = tf.nn.avg_pool2d(tf.pad(ones, paddings), 3, self.strides, "VALID")
    return window_sum / valid_fraction

  def compute_output_shape(self, input_shape):
    def out(size):
      return None if size is None else (size - 1) // self.strides + 1
    return (input_shape[0], out(input_shape[1]), out(input_shape[2]), input_shape[3])

  def get_config(self):
    config = super().get_config()
    config.update(strides=self.strides)
    return config


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class Identity(keras.layers.Layer):
  """`skip_connect` at stride 1 with equal channels."""

  def call(self, inputs):
    return tf.identity(inputs)

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
  (no BN), summed. Reference: TENAS_DETAILS.md section 2.2.

  Args:
    filters: output channels (twice the input channels in NB201).
    init: initialisation scheme.
  """

  def __init__(self, filters, init="pytorch_default", **kwargs):
    super().__init__(**kwargs)
    _check_positive_int("filters", filters)
    self.filters = filters
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

  def compute_output_shape(self, input_shape):
    return self.conv_a.compute_output_shape(input_shape)[:3] + (self.filters,)

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, init=self.init)
    return config


NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def check_op(op, allowed):
  if op not in allowed:
    raise ValueError(f"op must be one of {tuple(allowed)}; got {op!r}")
  return op


def nb201_op(op, channels, init, name=None):
  """Builds NB201 op `op` (stride 1, `channels` in and out)."""
  check_op(op, NB201_OPS)
  if op == "none":
    return Zero(name=name)
  if op == "skip_connect":
    return Identity(name=name)
  if op == "avg_pool_3x3":
    return AvgPool3x3(1, name=name)
  return ReLUConvBN(channels, 1 if op == "nor_conv_1x1" else 3, 1, init, name=name)
