"""Candidate operations of the DARTS space as serialisable Keras layers.

PyTorch geometry throughout, as in `tenas_tf.spaces.ops`: symmetric padding ('same' at stride 1
with an odd effective kernel, explicit padding and a 'valid' window at stride 2), no conv biases,
BatchNorm with PyTorch's epsilon and momentum. The ReLU, BatchNorm, average pool, identity, zero
and ReLU-conv-BN blocks are those of `ops`, so the DARTS nets share their vectorisation-friendly
gradients; every ReLU is a `keras.layers.ReLU` (recorded by `num_linear_regions`) and every
weight sits in a Conv2D, DepthwiseConv2D, Dense or BatchNormalization layer (`ntk_variables`).
The module ends with DARTS' op registry, `DARTS_REGISTRY`, of the shape of NB201's
(`ops.OpRegistry`).
Reference: DARTS (Liu et al., ICLR 2019) section 3.1 and its `operations.py`.
"""

import types

import tensorflow as tf
import keras

from tenas_tf import checks
from tenas_tf.spaces import batched_backward
from tenas_tf.spaces import depthwise
from tenas_tf.spaces import init as init_lib
from tenas_tf.spaces import ops as ops_lib

_SERIAL_PACKAGE = "tenas_tf"

# The strides of DARTS edges: 2 on a reduction cell's edges from the cell inputs.
STRIDES = (1, 2)


def _check_strides(strides):
  return checks.one_of("strides", checks.integer("strides", strides, 1), STRIDES)


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class DilConv(ops_lib.PreActivationConv):
  """ReLU -> depthwise k x k conv (stride, dilation) -> 1x1 conv -> BN.

  The DARTS `dil_conv_kxk` op (dilation 2: padding 2 for 3x3, 4 for 5x5) and, with dilation 1,
  each half of `SepConv`. Padding is dilation * (k - 1) / 2 on every side, as in PyTorch.

  Args:
    filters: output channels of the 1x1 conv (the depthwise conv keeps the input's channels).
    kernel_size: odd int, the depthwise kernel side.
    strides: 1 or 2.
    dilation_rate: int >= 1.
    init: initialisation scheme, see `tenas_tf.spaces.init.INIT_SCHEMES`.

  Example:
    >>> DilConv(4, 3, strides=1, dilation_rate=2)(tf.zeros([2, 8, 8, 4])).shape
    TensorShape([2, 8, 8, 4])

  Reference: Liu et al., DARTS (ICLR 2019), section 3.1.
  """

  def __init__(self, filters, kernel_size, strides=1, dilation_rate=1, init="pytorch_default",
               **kwargs):
    super().__init__(**kwargs)
    self.filters = checks.integer("filters", filters, 1)
    self.dilation_rate = checks.integer("dilation_rate", dilation_rate, 1)
    why = "odd: PyTorch's symmetric padding"
    self.kernel_size = checks.integer("kernel_size", kernel_size, 1, why=why)
    if kernel_size % 2 == 0:
      raise ValueError(f"kernel_size must be an int >= 1 ({why}); got {kernel_size!r}")
    self.strides = _check_strides(strides)
    self.init = init_lib.check_init_scheme(init)
    same = strides == 1
    self._add_relu_and_pad(None if same else dilation_rate * (kernel_size - 1) // 2)
    self.depthwise = keras.layers.DepthwiseConv2D(
        kernel_size, strides=strides, padding="same" if same else "valid",
        dilation_rate=dilation_rate, use_bias=False,
        depthwise_initializer=init_lib.kernel_initializer(init), name="depthwise")
    self.pointwise = ops_lib.conv2d(filters, 1, 1, init, name="pointwise")
    self.bn = ops_lib.batch_norm(name="bn")

  def build(self, input_shape):
    padded = self._build_relu_and_pad(input_shape)
    self.depthwise.build(padded)
    mid = self.depthwise.compute_output_shape(padded)
    self.pointwise.build(mid)
    self.bn.build(self.pointwise.compute_output_shape(mid))

  def call(self, inputs, training=None):
    x = self._relu_and_pad(inputs)
    # The layer holds the kernel; `depthwise_conv2d` applies it with a gradient that the NTK's
    # vectorised Jacobian does not run once per sample (see `tenas_tf.spaces.depthwise`).
    same_padding = self.dilation_rate * (self.kernel_size - 1) // 2 if self.pad is None else 0
    y = depthwise.depthwise_conv2d(x, self.depthwise.kernel, self.strides, self.dilation_rate,
                                   same_padding)
    return self.bn(self.pointwise(y), training=training)

  def jacobian_primitives(self):
    """The op as `batched_backward` primitives: one traced step forward, one per chunk back."""
    if self.pad is None:
      same = self.dilation_rate * (self.kernel_size - 1) // 2
      pad = [batched_backward.padding(((same, same), (same, same)))]
    else:
      pad = batched_backward.primitives_of(self.pad)
    return (batched_backward.primitives_of(self.relu) + pad
            + [batched_backward.depthwise(self.depthwise, self.strides)]
            + batched_backward.primitives_of(self.pointwise)
            + batched_backward.primitives_of(self.bn))

  def compute_output_shape(self, input_shape):
    mid = self.depthwise.compute_output_shape(self._padded_shape(input_shape))
    return tuple(mid[:3]) + (self.filters,)

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
                  dilation_rate=self.dilation_rate, init=self.init)
    return config


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class SepConv(keras.layers.Layer):
  """The DARTS `sep_conv_kxk` op: two `DilConv` blocks of dilation 1, the stride in the first.

  [ReLU -> depthwise k x k (stride) -> 1x1 conv -> BN] -> [ReLU -> depthwise k x k -> 1x1 -> BN].
  Both 1x1 convs output `filters` channels; in a DARTS cell input and output channels are equal,
  where this is exactly PyTorch's SepConv.

  Args:
    filters: output channels.
    kernel_size: odd int.
    strides: 1 or 2.
    init: initialisation scheme.

  Example:
    >>> SepConv(2, 5, strides=2)(tf.zeros([2, 7, 7, 2])).shape
    TensorShape([2, 4, 4, 2])

  Reference: Liu et al., DARTS (ICLR 2019), section 3.1.
  """

  def __init__(self, filters, kernel_size, strides=1, init="pytorch_default", **kwargs):
    super().__init__(**kwargs)
    self.filters = filters
    self.kernel_size = kernel_size
    self.strides = strides
    self.init = init
    self.first = DilConv(filters, kernel_size, strides, 1, init, name="first")
    self.second = DilConv(filters, kernel_size, 1, 1, init, name="second")

  def build(self, input_shape):
    self.first.build(input_shape)
    self.second.build(self.first.compute_output_shape(input_shape))

  def call(self, inputs, training=None):
    return self.second(self.first(inputs, training=training), training=training)

  def jacobian_primitives(self):
    """The op as `batched_backward` primitives: both halves in one fused step."""
    return self.first.jacobian_primitives() + self.second.jacobian_primitives()

  def compute_output_shape(self, input_shape):
    return self.second.compute_output_shape(self.first.compute_output_shape(input_shape))

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
                  init=self.init)
    return config


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class FactorizedReduce(keras.layers.Layer):
  """Halves the spatial size: ReLU, two 1x1 stride-2 convs, concatenated, then BN.

  The first conv sees the input, the second the input shifted by one pixel (x[i + 1, j + 1],
  zero past the border: PyTorch's pad right/bottom then crop), so together they cover both pixel
  parities. Output side ceil(H / 2) for odd and even H. `skip_connect` at stride 2, and a cell's
  first preprocessing after a reduction cell.

  Args:
    filters: output channels, even (each conv gives half).
    init: initialisation scheme.

  Raises:
    ValueError: if `filters` is not an even int >= 2.

  Example:
    >>> FactorizedReduce(4)(tf.zeros([2, 5, 5, 4])).shape
    TensorShape([2, 3, 3, 4])

  Reference: Liu et al., DARTS (ICLR 2019), its `operations.py` (`FactorizedReduce`).
  """

  def __init__(self, filters, init="pytorch_default", **kwargs):
    super().__init__(**kwargs)
    why = "even: two convs give half each"
    self.filters = checks.integer("filters", filters, 2, why=why)
    if filters % 2:
      raise ValueError(f"filters must be an int >= 2 ({why}); got {filters!r}")
    self.init = init_lib.check_init_scheme(init)
    self.relu = ops_lib.ReLU(name="relu")
    self.conv_1 = ops_lib.conv2d(filters // 2, 1, 2, init, name="conv_1")
    self.conv_2 = ops_lib.conv2d(filters // 2, 1, 2, init, name="conv_2")
    self.bn = ops_lib.batch_norm(name="bn")

  def build(self, input_shape):
    self.relu.build(input_shape)
    self.conv_1.build(input_shape)
    self.conv_2.build(input_shape)
    self.bn.build(self.compute_output_shape(input_shape))

  def call(self, inputs, training=None):
    x = self.relu(inputs)
    y = tf.concat([self.conv_1(x), self.conv_2(_shifted(x))], axis=-1)
    return self.bn(y, training=training)

  def jacobian_primitives(self):
    """The block as `batched_backward` primitives: ReLU, both convs (`FACTORIZED_CONVS`), BN."""
    first, second = batched_backward.conv(self.conv_1), batched_backward.conv(self.conv_2)
    # Both are 1x1 convs of stride 2: the first's settings are the second's.
    convs = batched_backward.Primitive(FACTORIZED_CONVS, first.settings,
                                       first.weights + second.weights,
                                       first.row_variables + second.row_variables)
    return (batched_backward.primitives_of(self.relu) + [convs]
            + batched_backward.primitives_of(self.bn))

  def compute_output_shape(self, input_shape):
    return tuple(self.conv_1.compute_output_shape(input_shape)[:3]) + (self.filters,)

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, init=self.init)
    return config


def _shifted(x):
  """x[i + 1, j + 1], zero past the bottom and right borders (`FactorizedReduce`'s second conv)."""
  return tf.pad(x[:, 1:, 1:, :], [[0, 0], [0, 1], [0, 1], [0, 0]])


def _factorized_convs_forward(settings, x, first_kernel, second_kernel):
  first, _ = batched_backward.CONV.forward(settings, x, first_kernel)
  moved = _shifted(x)
  second, _ = batched_backward.CONV.forward(settings, moved, second_kernel)
  return tf.concat([first, second], axis=-1), (x, moved)


def _factorized_convs_backward(settings, input_cotangents, cotangents, saved, weights):
  del input_cotangents
  (x, moved), (first_kernel, second_kernel) = saved, weights
  first, second = tf.split(cotangents, 2, axis=-1)
  into_x, first_rows = batched_backward.CONV.backward(settings, True, first, (x,),
                                                      (first_kernel,))
  into_moved, second_rows = batched_backward.CONV.backward(settings, True, second, (moved,),
                                                           (second_kernel,))
  unshifted = tf.pad(into_moved[:, :, :-1, :-1], [[0, 0], [0, 0], [1, 0], [1, 0], [0, 0]])
  return into_x + unshifted, first_rows + second_rows


# `FactorizedReduce`'s two convs, of x and of x shifted, concatenated: one primitive, so that the
# whole block (ReLU, convs, BN) is one fused step of `batched_backward`.
FACTORIZED_CONVS = batched_backward.Kind("factorized_convs", _factorized_convs_forward,
                                         _factorized_convs_backward)


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class MaxPool3x3(ops_lib.StridedOp):
  """3x3 max pool, pad 1, stride 1 or 2; padded cells never win (PyTorch pads with -inf).

  Args:
    strides: 1 or 2.
  """

  def __init__(self, strides=1, **kwargs):
    super().__init__(_check_strides(strides), **kwargs)

  def call(self, inputs):
    if self.strides == 1:
      # TensorFlow's 'SAME' max pool ignores padded cells; at stride 1 its padding is symmetric.
      return tf.nn.max_pool2d(inputs, 3, 1, "SAME")
    padded = tf.pad(inputs, [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=-float("inf"))
    return tf.nn.max_pool2d(padded, 3, self.strides, "VALID")

  def jacobian_primitives(self):
    """The pool as `batched_backward` primitives."""
    if self.strides == 1:
      return [batched_backward.max_pool(1, "SAME")]
    return [batched_backward.padding(((1, 1), (1, 1)), value=-float("inf")),
            batched_backward.max_pool(self.strides, "VALID")]


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class StridedZero(ops_lib.StridedOp):
  """The `none` op at stride s: zeros of the strided shape (PyTorch: x[:, :, ::s, ::s] * 0).

  Args:
    strides: 1 or 2.
  """

  def __init__(self, strides=1, **kwargs):
    super().__init__(_check_strides(strides), **kwargs)

  def call(self, inputs):
    return tf.zeros_like(inputs[:, ::self.strides, ::self.strides, :])


def _sep_conv(kernel_size):
  return lambda channels, strides, init, name: SepConv(channels, kernel_size, strides, init,
                                                       name=name)


def _dil_conv(kernel_size):
  return lambda channels, strides, init, name: DilConv(channels, kernel_size, strides, 2, init,
                                                       name=name)


# DARTS' op registry (index 0 is `none`); channels must be even for a strided `skip_connect`.
DARTS_REGISTRY = ops_lib.OpRegistry(
    factories=types.MappingProxyType({
        "none": lambda channels, strides, init, name: (
            ops_lib.Zero(name=name) if strides == 1 else StridedZero(strides, name=name)),
        "skip_connect": lambda channels, strides, init, name: (
            ops_lib.Identity(name=name) if strides == 1
            else FactorizedReduce(channels, init, name=name)),
        "sep_conv_3x3": _sep_conv(3),
        "sep_conv_5x5": _sep_conv(5),
        "dil_conv_3x3": _dil_conv(3),
        "dil_conv_5x5": _dil_conv(5),
        "avg_pool_3x3": lambda channels, strides, init, name: ops_lib.AvgPool3x3(strides,
                                                                                  name=name),
        "max_pool_3x3": lambda channels, strides, init, name: MaxPool3x3(strides, name=name),
    }),
    strides=STRIDES)
DARTS_OPS = DARTS_REGISTRY.names
