"""Tests of the DARTS op layers against numpy re-implementations with PyTorch's geometry."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf
import keras

from tenas_tf import indicators
from tenas_tf.spaces import darts_ops
from tenas_tf.spaces import ops
from tests import numpy_ops
from tests import testing_utils

_CONV_OPS = ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")


def _np_depthwise(x, kernel, stride, dilation, pad):
  """Depthwise cross-correlation, symmetric zero padding, dilation (PyTorch groups=C)."""
  x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  k = kernel.shape[0]
  span = dilation * (k - 1) + 1
  out_h = (x.shape[1] - span) // stride + 1
  out_w = (x.shape[2] - span) // stride + 1
  out = np.zeros((x.shape[0], out_h, out_w, x.shape[3]))
  for i in range(out_h):
    for j in range(out_w):
      patch = x[:, i * stride:i * stride + span:dilation, j * stride:j * stride + span:dilation]
      out[:, i, j, :] = np.einsum("bhwc,hwc->bc", patch, kernel[:, :, :, 0])
  return out


def _np_dil_conv(x, layer, prefix, stride, dilation, training):
  """ReLU -> depthwise (k, stride, dilation, pad dilation * (k - 1) / 2) -> 1x1 -> BN."""
  kernel = numpy_ops.weight(layer, f"{prefix}depthwise/kernel")
  pad = dilation * (kernel.shape[0] - 1) // 2
  y = _np_depthwise(np.maximum(x, 0.0), kernel, stride, dilation, pad)
  pointwise = numpy_ops.weight(layer, f"{prefix}pointwise/kernel")
  return numpy_ops.batch_norm(numpy_ops.conv(y, pointwise, 1, 0), training)


def _np_max_pool(x, stride):
  """3x3 max pool, pad 1 with -inf (padded cells never win), PyTorch's output size."""
  x = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
  out_h, out_w = (x.shape[1] - 3) // stride + 1, (x.shape[2] - 3) // stride + 1
  out = np.zeros((x.shape[0], out_h, out_w, x.shape[3]))
  for i in range(out_h):
    for j in range(out_w):
      out[:, i, j] = x[:, i * stride:i * stride + 3, j * stride:j * stride + 3].max(axis=(1, 2))
  return out


def _np_factorized_reduce(x, kernel_1, kernel_2, training):
  """ReLU; 1x1 stride-2 convs of x and of x shifted by one pixel (zero past the border); BN."""
  x = np.maximum(x, 0.0)
  shifted = np.pad(x[:, 1:, 1:, :], ((0, 0), (0, 1), (0, 1), (0, 0)))
  y = np.concatenate([numpy_ops.conv(x, kernel_1, 2, 0), numpy_ops.conv(shifted, kernel_2, 2, 0)],
                     axis=-1)
  return numpy_ops.batch_norm(y, training)


def _random(shape, seed):
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


class DilConvTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.product(kernel_size=(3, 5), stride=(1, 2), size=(7, 8), training=(False, True))
  def test_equals_numpy(self, kernel_size, stride, size, training):
    x = _random((3, size, size, 2), size)
    layer = darts_ops.DilConv(2, kernel_size, stride, dilation_rate=2)
    out = layer(x, training=training).numpy()
    self.assertEqual(out.shape, (3, (size - 1) // stride + 1, (size - 1) // stride + 1, 2))
    self.assertEqual(tuple(layer.compute_output_shape(x.shape)), out.shape)
    self.assertAllClose(out, _np_dil_conv(x.astype(np.float64), layer, "", stride, 2, training),
                        rtol=1e-4, atol=1e-4)

  def test_parameter_count_and_layer_types(self):
    layer = darts_ops.DilConv(4, 5, 1, 2)
    layer.build((None, 9, 9, 4))
    # depthwise 5*5*4, pointwise 4*4, BN gamma and beta 4 + 4: no biases.
    self.assertEqual(sum(int(np.prod(v.shape)) for v in layer.trainable_weights),
                     100 + 16 + 8)
    self.assertIsInstance(layer.depthwise, keras.layers.DepthwiseConv2D)
    self.assertIsInstance(layer.relu, keras.layers.ReLU)

  @parameterized.named_parameters(
      ("even_kernel", dict(filters=2, kernel_size=4), r"kernel_size must be an int >= 1 \(odd"),
      ("stride_3", dict(filters=2, kernel_size=3, strides=3), r"strides must be one of \(1, 2\)"),
      ("zero_dilation", dict(filters=2, kernel_size=3, dilation_rate=0), "dilation_rate"),
      ("zero_filters", dict(filters=0, kernel_size=3), "filters"))
  def test_bad_arguments_are_rejected(self, kwargs, message):
    with self.assertRaisesRegex(ValueError, message):
      darts_ops.DilConv(**kwargs)


class SepConvTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.product(kernel_size=(3, 5), stride=(1, 2))
  def test_equals_two_numpy_blocks_stride_in_the_first(self, kernel_size, stride):
    x = _random((3, 7, 7, 2), kernel_size)
    layer = darts_ops.SepConv(2, kernel_size, stride)
    out = layer(x, training=True).numpy()
    self.assertEqual(out.shape, (3, (7 - 1) // stride + 1, (7 - 1) // stride + 1, 2))
    self.assertEqual(tuple(layer.compute_output_shape(x.shape)), out.shape)
    first = _np_dil_conv(x.astype(np.float64), layer, "first/", stride, 1, True)
    expected = _np_dil_conv(first, layer, "second/", 1, 1, True)
    self.assertAllClose(out, expected, rtol=1e-4, atol=1e-4)

  def test_two_recorded_relus(self):
    model = keras.Sequential([keras.Input((5, 5, 1)), darts_ops.SepConv(1, 3, 2)])
    self.assertLen(indicators.relu_layers(model), 2)
    # First ReLU on the 5x5 input, second on the 3x3 output of the strided block.
    self.assertEqual(indicators.relu_sign_patterns(model, _random((4, 5, 5, 1), 0)).shape,
                     (4, 25 + 9))


class FactorizedReduceTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.product(size=(6, 7), training=(False, True))
  def test_equals_numpy_on_odd_and_even_sizes(self, size, training):
    x = _random((3, size, size + 1, 4), size)
    layer = darts_ops.FactorizedReduce(4)
    out = layer(x, training=training).numpy()
    self.assertEqual(out.shape, (3, (size + 1) // 2, (size + 2) // 2, 4))
    self.assertEqual(tuple(layer.compute_output_shape(x.shape)), out.shape)
    expected = _np_factorized_reduce(x.astype(np.float64), numpy_ops.weight(layer, "conv_1/kernel"),
                                     numpy_ops.weight(layer, "conv_2/kernel"), training)
    self.assertAllClose(out, expected, rtol=1e-4, atol=1e-4)

  def test_second_conv_sees_the_odd_pixels(self):
    # With identity 1x1 kernels and no BN effect (inference, gamma 1), output channel 0 is
    # x[0::2, 0::2] and channel 1 is x[1::2, 1::2], zero past the border.
    layer = darts_ops.FactorizedReduce(2)
    layer.build((None, 5, 5, 1))
    layer.conv_1.kernel.assign(np.ones((1, 1, 1, 1)))
    layer.conv_2.kernel.assign(np.ones((1, 1, 1, 1)))
    x = np.arange(25, dtype=np.float32).reshape(1, 5, 5, 1)
    out = layer(x, training=False).numpy() * np.sqrt(1.0 + 1e-5)
    self.assertAllClose(out[0, :, :, 0], x[0, 0::2, 0::2, 0])
    odd = np.zeros((3, 3))
    odd[:2, :2] = x[0, 1::2, 1::2, 0]
    self.assertAllClose(out[0, :, :, 1], odd)

  def test_odd_filters_are_rejected(self):
    with self.assertRaisesRegex(ValueError, r"filters must be an int >= 2 \(even.*got 3"):
      darts_ops.FactorizedReduce(3)


class PoolTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.product(size=(4, 5), stride=(1, 2))
  def test_max_pool_equals_numpy_with_minus_inf_padding(self, size, stride):
    # All values negative: zero padding would win at the border, -inf padding never does.
    x = -np.abs(_random((2, size, size + 1, 3), size)) - 1.0
    layer = darts_ops.MaxPool3x3(stride)
    out = layer(x).numpy()
    self.assertAllClose(out, _np_max_pool(x.astype(np.float64), stride))
    self.assertEqual(tuple(layer.compute_output_shape(x.shape)), out.shape)
    self.assertLess(np.max(out), 0.0)

  @parameterized.parameters(4, 5)
  def test_avg_pool_excludes_padding_at_stride_2(self, size):
    x = _random((2, size, size, 3), size)
    out = darts_ops.DARTS_REGISTRY.build("avg_pool_3x3", 3, strides=2)(x).numpy()
    self.assertAllClose(out, numpy_ops.avg_pool_exclude_pad(x.astype(np.float64), 2),
                        **testing_utils.tolerance(np.float32))


class OpRegistryTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.product(op=darts_ops.DARTS_OPS, stride=(1, 2), size=(5, 6))
  def test_every_op_maps_channels_to_channels_at_its_stride(self, op, stride, size):
    layer = darts_ops.DARTS_REGISTRY.build(op, 2, stride)
    x = _random((2, size, size, 2), size)
    out = layer(x, training=True) if op in _CONV_OPS or op == "skip_connect" else layer(x)
    side = (size - 1) // stride + 1
    self.assertEqual(tuple(out.shape), (2, side, side, 2))
    self.assertEqual(tuple(layer.compute_output_shape(x.shape)), (2, side, side, 2))
    if op == "none":
      self.assertAllEqual(out, np.zeros((2, side, side, 2)))
    if op == "skip_connect" and stride == 1:
      self.assertAllEqual(out, x)

  @parameterized.parameters(1, 2)
  def test_strided_ops_are_the_pytorch_classes(self, stride):
    expected = {"skip_connect": ops.Identity if stride == 1 else darts_ops.FactorizedReduce,
                "none": ops.Zero if stride == 1 else darts_ops.StridedZero,
                "avg_pool_3x3": ops.AvgPool3x3, "max_pool_3x3": darts_ops.MaxPool3x3,
                "sep_conv_5x5": darts_ops.SepConv, "dil_conv_3x3": darts_ops.DilConv}
    for op, layer_class in expected.items():
      self.assertIs(type(darts_ops.DARTS_REGISTRY.build(op, 2, stride)), layer_class, op)

  def test_dil_conv_kernel_and_dilation(self):
    layer = darts_ops.DARTS_REGISTRY.build("dil_conv_5x5", 2, 2)
    self.assertEqual((layer.kernel_size, layer.dilation_rate, layer.strides), (5, 2, 2))

  def test_bad_ops_and_strides_are_rejected(self):
    with self.assertRaisesRegex(ValueError, r"op must be one of \('none'.*got 'conv_3x3'"):
      darts_ops.DARTS_REGISTRY.build("conv_3x3", 2)
    with self.assertRaisesRegex(ValueError, r"strides must be one of \(1, 2\); got 4"):
      darts_ops.DARTS_REGISTRY.build("max_pool_3x3", 2, strides=4)


class OpConfigTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.named_parameters(
      ("dil_conv", lambda: darts_ops.DilConv(2, 3, 2, 2, "kaiming_normal", name="d"),
       {"training": False}),
      ("sep_conv", lambda: darts_ops.SepConv(2, 5, 1, name="s"), {"training": False}),
      ("factorized_reduce", lambda: darts_ops.FactorizedReduce(2, name="f"),
       {"training": False}),
      ("max_pool", lambda: darts_ops.MaxPool3x3(2, name="m"), {}),
      ("strided_zero", lambda: darts_ops.StridedZero(2, name="z"), {}))
  def test_config_round_trip(self, make, call_kwargs):
    layer = make()
    x = _random((2, 7, 7, 2), 6)
    expected = layer(x, **call_kwargs).numpy()
    for clone in (type(layer).from_config(layer.get_config()),
                  keras.saving.deserialize_keras_object(
                      keras.saving.serialize_keras_object(layer))):
      self.assertIs(type(clone), type(layer))
      self.assertEqual(clone.get_config(), layer.get_config())
      clone(x, **call_kwargs)  # builds
      clone.set_weights(layer.get_weights())
      self.assertAllClose(clone(x, **call_kwargs), expected, **testing_utils.tolerance(np.float32))


if __name__ == "__main__":
  tf.test.main()
