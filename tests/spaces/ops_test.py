"""Tests of the NB201 op layers against numpy re-implementations with PyTorch's geometry."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf
import keras

from tenas_tf import indicators
from tenas_tf.spaces import ops
from tests import numpy_ops
from tests import testing_utils

def _np_relu_conv_bn(x, kernel, stride, training):
  k = kernel.shape[0]
  return numpy_ops.batch_norm(numpy_ops.conv(np.maximum(x, 0.0), kernel, stride, k // 2), training)


class AvgPool3x3Test(parameterized.TestCase, tf.test.TestCase):

  def test_closed_form_corner_edge_interior(self):
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    out = ops.AvgPool3x3(1)(x).numpy()[0, :, :, 0]
    grid = x[0, :, :, 0]
    self.assertAllClose(out[0, 0], grid[0:2, 0:2].sum() / 4.0)  # corner: 4 valid cells
    self.assertAllClose(out[0, 1], grid[0:2, 0:3].sum() / 6.0)  # edge: 6 valid cells
    self.assertAllClose(out[2, 3], grid[1:4, 2:4].sum() / 6.0)
    self.assertAllClose(out[1, 1], grid[0:3, 0:3].sum() / 9.0)  # interior: 9 cells
    self.assertAllClose(out[3, 3], grid[2:4, 2:4].sum() / 4.0)

  def test_constant_input_is_unchanged(self):
    # Counting the zero padding would darken the border; excluding it keeps a constant image.
    x = np.full((2, 5, 5, 3), 7.0, np.float32)
    self.assertAllClose(ops.AvgPool3x3(1)(x), x)

  @parameterized.product(size=(4, 5, 7), stride=(1, 2))
  def test_equals_numpy_exclude_pad(self, size, stride):
    x = np.random.default_rng(size).normal(size=(2, size, size + 1, 3)).astype(np.float32)
    layer = ops.AvgPool3x3(stride)
    out = layer(x).numpy()
    self.assertAllClose(out, numpy_ops.avg_pool_exclude_pad(x.astype(np.float64), stride),
                        **testing_utils.tolerance(np.float32))
    self.assertEqual(tuple(layer.compute_output_shape(x.shape)), out.shape)


class ReLUConvBNTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.product(kernel_size=(1, 3), stride=(1, 2), size=(7, 8), training=(False, True))
  def test_equals_numpy_with_symmetric_padding(self, kernel_size, stride, size, training):
    x = np.random.default_rng(0).normal(size=(3, size, size, 2)).astype(np.float32)
    layer = ops.ReLUConvBN(5, kernel_size, stride)
    out = layer(x, training=training).numpy()
    expected_size = (size - 1) // stride + 1
    self.assertEqual(out.shape, (3, expected_size, expected_size, 5))
    self.assertEqual(tuple(layer.compute_output_shape(x.shape)), out.shape)
    expected = _np_relu_conv_bn(x.astype(np.float64), numpy_ops.weight(layer, "conv/kernel"),
                                stride, training)
    self.assertAllClose(out, expected, rtol=1e-4, atol=1e-4)

  def test_batch_norm_uses_pytorch_epsilon_and_momentum(self):
    # Small activations: var ~ 1e-4, so Keras' default epsilon (1e-3) would be visible.
    x = 1e-2 * np.random.default_rng(1).normal(size=(4, 6, 6, 2)).astype(np.float32)
    layer = ops.ReLUConvBN(3, 3, 1)
    out = layer(x, training=True).numpy()
    kernel = numpy_ops.weight(layer, "conv/kernel")
    conv = numpy_ops.conv(np.maximum(x, 0.0).astype(np.float64), kernel, 1, 1)
    self.assertAllClose(out, numpy_ops.batch_norm(conv, True), rtol=1e-3, atol=1e-3)
    # PyTorch momentum 0.1: running_mean = 0.9 * 0 + 0.1 * batch_mean.
    self.assertAllClose(numpy_ops.weight(layer, "bn/moving_mean"), 0.1 * conv.mean(axis=(0, 1, 2)),
                        rtol=1e-3, atol=1e-7)

  def test_relu_is_a_recorded_relu_layer(self):
    model = keras.Sequential([keras.Input((4, 4, 2)), ops.ReLUConvBN(3, 3, 1)])
    self.assertLen(indicators.relu_layers(model), 1)
    x = np.random.default_rng(2).normal(size=(5, 4, 4, 2)).astype(np.float32)
    self.assertAllEqual(indicators.relu_sign_patterns(model, x), (x > 0).reshape(5, -1))

  def test_no_bias_and_kernel_within_pytorch_bound(self):
    layer = ops.ReLUConvBN(8, 3, 1)
    layer.build((None, 6, 6, 4))
    paths = sorted(v.path.split("/", 1)[1] for v in layer.trainable_weights)
    self.assertEqual(paths, ["bn/beta", "bn/gamma", "conv/kernel"])
    self.assertLessEqual(np.max(np.abs(numpy_ops.weight(layer, "conv/kernel"))), 1.0 / np.sqrt(36))

  @parameterized.named_parameters(
      ("zero_filters", dict(filters=0, kernel_size=3), "filters"),
      ("float_kernel", dict(filters=2, kernel_size=3.0), "kernel_size"),
      ("bool_strides", dict(filters=2, kernel_size=3, strides=True), "strides"),
      ("unknown_init", dict(filters=2, kernel_size=3, init="xavier"), "'xavier'"))
  def test_bad_arguments_are_rejected(self, kwargs, piece):
    with self.assertRaisesRegex(ValueError, piece):
      ops.ReLUConvBN(**kwargs)


class ResNetBlockTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.parameters(False, True)
  def test_equals_numpy(self, training):
    x = np.random.default_rng(3).normal(size=(2, 8, 8, 3)).astype(np.float32)
    block = ops.ResNetBlock(6)
    out = block(x, training=training).numpy()
    self.assertEqual(out.shape, (2, 4, 4, 6))
    self.assertEqual(tuple(block.compute_output_shape(x.shape)), out.shape)
    x64 = x.astype(np.float64)
    mid = _np_relu_conv_bn(x64, numpy_ops.weight(block, "conv_a/conv/kernel"), 2, training)
    residual = _np_relu_conv_bn(mid, numpy_ops.weight(block, "conv_b/conv/kernel"), 1, training)
    pooled = x64.reshape(2, 4, 2, 4, 2, 3).mean(axis=(2, 4))  # 2x2 average pool, stride 2
    shortcut = numpy_ops.conv(pooled, numpy_ops.weight(block, "shortcut_conv/kernel"), 1, 0)
    self.assertAllClose(out, residual + shortcut, rtol=1e-4, atol=1e-4)

  def test_parameter_count(self):
    block = ops.ResNetBlock(6)
    block.build((None, 8, 8, 3))
    sizes = sum(int(np.prod(v.shape)) for v in block.trainable_weights)
    # conv_a 3*3*3*6 + BN 2*6, conv_b 3*3*6*6 + BN 2*6, shortcut 1*1*3*6 (no BN, no biases).
    self.assertEqual(sizes, 162 + 12 + 324 + 12 + 18)


class OpRegistryTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.parameters(*ops.NB201_OPS)
  def test_every_op_keeps_shape(self, op):
    layer = ops.NB201_REGISTRY.build(op, 3, 1, "pytorch_default")
    x = np.random.default_rng(4).normal(size=(2, 5, 5, 3)).astype(np.float32)
    out = layer(x, training=True) if op.startswith("nor_conv") else layer(x)
    self.assertEqual(tuple(out.shape), x.shape)
    if op == "none":
      self.assertAllEqual(out, np.zeros_like(x))
    if op == "skip_connect":
      self.assertAllEqual(out, x)

  def test_unknown_op_is_rejected_naming_it(self):
    with self.assertRaisesRegex(ValueError, r"op must be one of \('none', .*got 'conv3x3'"):
      ops.NB201_REGISTRY.build("conv3x3", 3, 1, "pytorch_default")
    with self.assertRaisesRegex(ValueError, r"strides must be one of \(1,\); got 2"):
      ops.NB201_REGISTRY.build("skip_connect", 3, 2, "pytorch_default")

  def test_names_are_the_nb201_ops_in_mask_column_order(self):
    self.assertEqual(ops.NB201_OPS, ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3",
                                     "avg_pool_3x3"))


def _clones(layer):
  """`layer` rebuilt by from_config(get_config()) and by Keras' registered (de)serialisation."""
  return [type(layer).from_config(layer.get_config()),
          keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))]


class OpConfigTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.named_parameters(
      ("relu_conv_bn", lambda: ops.ReLUConvBN(4, 3, 2, "kaiming_normal", name="rcb"),
       (2, 6, 6, 3), {"training": False}),
      ("avg_pool", lambda: ops.AvgPool3x3(2, name="pool"), (2, 5, 5, 3), {}),
      ("resnet_block", lambda: ops.ResNetBlock(6, name="block"), (2, 8, 8, 3),
       {"training": False}))
  def test_config_round_trip(self, make, input_shape, call_kwargs):
    layer = make()
    x = np.random.default_rng(5).normal(size=input_shape).astype(np.float32)
    expected = layer(x, **call_kwargs).numpy()
    for clone in _clones(layer):
      self.assertIs(type(clone), type(layer))
      self.assertEqual(clone.get_config(), layer.get_config())
      clone(x, **call_kwargs)  # builds
      clone.set_weights(layer.get_weights())
      self.assertAllClose(clone(x, **call_kwargs), expected, **testing_utils.tolerance(np.float32))

  def test_config_holds_init_arguments(self):
    config = ops.ReLUConvBN(4, 3, 2, "kaiming_normal").get_config()
    self.assertEqual((config["filters"], config["kernel_size"], config["strides"],
                      config["init"]), (4, 3, 2, "kaiming_normal"))
    self.assertEqual(ops.AvgPool3x3(2).get_config()["strides"], 2)
    config = ops.ResNetBlock(6, "kaiming_normal").get_config()
    self.assertEqual((config["filters"], config["init"]), (6, "kaiming_normal"))


if __name__ == "__main__":
  tf.test.main()
