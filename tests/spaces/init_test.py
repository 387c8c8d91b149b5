"""Tests of the initialisation schemes: determinism and the distributions' closed forms."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf
import keras

from tenas_tf import spaces
from tenas_tf.spaces import ops

_FAN_IN = 3 * 3 * 64  # the 3x3 conv on 64 channels below


def _model(depthwise=False):
  """Conv 3x3 (64 -> 64, 36,864 weights) -> BN -> [depthwise 3x3] -> GAP -> Dense(64 -> 32)."""
  layers = [keras.Input((8, 8, 64)),
            keras.layers.Conv2D(64, 3, use_bias=False, name="conv"),
            keras.layers.BatchNormalization(name="bn")]
  if depthwise:
    layers.append(keras.layers.DepthwiseConv2D(3, use_bias=True, name="depthwise"))
  layers += [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(32, name="dense")]
  return keras.Sequential(layers)


def _values(model):
  return [v.numpy() for v in model.variables]


class InitializeTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.parameters(*spaces.INIT_SCHEMES)
  def test_same_seed_same_weights_other_seed_other_weights(self, scheme):
    model = _model()
    spaces.initialize(model, 7, scheme)
    first = _values(model)
    spaces.initialize(model, 8, scheme)
    other = _values(model)
    spaces.initialize(model, 7, scheme)
    for a, b in zip(first, _values(model)):
      self.assertAllEqual(a, b)
    for name in ("conv", "dense"):
      kernel = model.get_layer(name).kernel.path
      index = [v.path for v in model.variables].index(kernel)
      self.assertNotAllClose(first[index], other[index])

  def test_two_networks_with_one_seed_agree(self):
    a, b = spaces.ntk_network(10, seed=3), spaces.ntk_network(10, seed=3)
    c = spaces.ntk_network(10, seed=4)
    self.assertEqual([v.path for v in a.variables], [v.path for v in b.variables])
    for va, vb in zip(a.variables, b.variables):
      self.assertAllEqual(va, vb)
    differing = [va.path for va, vc in zip(a.variables, c.variables)
                 if not np.array_equal(va.numpy(), vc.numpy())]
    self.assertNotEmpty(differing)
    self.assertTrue(all(p.endswith(("kernel", "bias")) for p in differing), differing)

  def test_pytorch_default_closed_form(self):
    model = _model()
    bn = model.get_layer("bn")
    bn.gamma.assign(np.full(64, 3.0, np.float32))
    bn.beta.assign(np.full(64, 2.0, np.float32))
    bn.moving_mean.assign(np.full(64, 5.0, np.float32))
    bn.moving_variance.assign(np.full(64, 9.0, np.float32))
    spaces.initialize(model, 0)  # default scheme: "pytorch_default"
    kernel = model.get_layer("conv").kernel.numpy()
    bound = 1.0 / np.sqrt(_FAN_IN)
    self.assertLessEqual(np.max(np.abs(kernel)), bound)
    self.assertGreater(np.max(np.abs(kernel)), 0.99 * bound)  # fills the interval
    # U(-b, b): mean 0, std b / sqrt(3).
    self.assertAllClose(np.std(kernel), bound / np.sqrt(3.0), rtol=0.02)
    self.assertLess(abs(np.mean(kernel)), 0.02 * bound)
    dense = model.get_layer("dense")
    dense_bound = 1.0 / np.sqrt(64)
    self.assertLessEqual(np.max(np.abs(dense.kernel.numpy())), dense_bound)
    self.assertLessEqual(np.max(np.abs(dense.bias.numpy())), dense_bound)
    self.assertGreater(np.std(dense.bias.numpy()), 0.3 * dense_bound)  # drawn, not zero
    self.assertAllEqual(bn.gamma, np.ones(64))
    self.assertAllEqual(bn.beta, np.zeros(64))
    self.assertAllEqual(bn.moving_mean, np.zeros(64))
    self.assertAllEqual(bn.moving_variance, np.ones(64))

  def test_kaiming_normal_closed_form(self):
    model = _model()
    spaces.initialize(model, 0, "kaiming_normal")
    kernel = model.get_layer("conv").kernel.numpy()
    self.assertAllClose(np.std(kernel), np.sqrt(2.0 / _FAN_IN), rtol=0.02)
    self.assertLess(abs(np.mean(kernel)), 0.02 * np.sqrt(2.0 / _FAN_IN))
    # Normal, not truncated: some draws lie beyond 2 standard deviations (~4.6 %).
    self.assertGreater(np.mean(np.abs(kernel) > 2 * np.sqrt(2.0 / _FAN_IN)), 0.03)
    self.assertAllEqual(model.get_layer("bn").gamma, np.ones(64))

  @parameterized.parameters(*spaces.INIT_SCHEMES)
  def test_depthwise_fan_in_is_kernel_area(self, scheme):
    # PyTorch's depthwise weight is (C, 1, k, k): fan_in = k * k = 9, whatever the channels.
    model = _model(depthwise=True)
    spaces.initialize(model, 0, scheme)
    kernel = model.get_layer("depthwise").kernel.numpy()  # Keras 3 attribute name
    if scheme == "pytorch_default":
      self.assertLessEqual(np.max(np.abs(kernel)), 1.0 / 3.0)
      self.assertAllClose(np.std(kernel), 1.0 / 3.0 / np.sqrt(3.0), rtol=0.1)
    else:
      self.assertAllClose(np.std(kernel), np.sqrt(2.0 / 9.0), rtol=0.1)

  def test_unknown_scheme_is_rejected_naming_it(self):
    with self.assertRaisesRegex(ValueError, "'xavier'"):
      spaces.initialize(_model(), 0, "xavier")
    with self.assertRaisesRegex(ValueError, "'xavier'"):
      spaces.ntk_network(10, init="xavier")
    with self.assertRaisesRegex(ValueError, "'xavier'"):
      ops.ResNetBlock(6, init="xavier")

  def test_alive_mask_is_left_alone(self):
    net = spaces.ntk_network(10)
    mask = spaces.nb201_initial_mask()
    mask[0, 2, 3] = False
    net.set_alive(mask)
    spaces.initialize(net, 1)
    self.assertAllEqual(net.alive.numpy(), mask.astype(np.float32))

  def test_nb201_network_kernels_within_pytorch_bounds(self):
    net = spaces.ntk_network(10, seed=2)
    kernels = [v for v in net.trainable_variables if v.path.endswith("kernel")]
    self.assertNotEmpty(kernels)
    for kernel in kernels:
      fan_in = int(np.prod(kernel.shape[:-1]))
      self.assertLessEqual(np.max(np.abs(kernel.numpy())), 1.0 / np.sqrt(fan_in), kernel.path)
    for variable in net.variables:
      if variable.path.endswith("gamma"):
        self.assertAllEqual(variable, np.ones(variable.shape), variable.path)
      if variable.path.endswith("beta"):
        self.assertAllEqual(variable, np.zeros(variable.shape), variable.path)


class FreshLayerInitTest(parameterized.TestCase, tf.test.TestCase):
  """Layers built without `initialize` already follow their scheme."""

  def test_pytorch_default_kernel(self):
    layer = ops.ReLUConvBN(64, 3, 1, "pytorch_default")
    layer.build((None, 8, 8, 64))
    kernel = [v for v in layer.weights if v.path.endswith("conv/kernel")][0].numpy()
    bound = 1.0 / np.sqrt(_FAN_IN)
    self.assertLessEqual(np.max(np.abs(kernel)), bound * (1 + 1e-6))
    self.assertAllClose(np.std(kernel), bound / np.sqrt(3.0), rtol=0.02)

  def test_kaiming_normal_kernel(self):
    layer = ops.ReLUConvBN(64, 3, 1, "kaiming_normal")
    layer.build((None, 8, 8, 64))
    kernel = [v for v in layer.weights if v.path.endswith("conv/kernel")][0].numpy()
    self.assertAllClose(np.std(kernel), np.sqrt(2.0 / _FAN_IN), rtol=0.02)


if __name__ == "__main__":
  tf.test.main()
