"""Tests of the empirical NTK against independent truth: a per-sample gradient oracle written
here, the closed form X X^T of linear models, and hand-made spectra."""

import math

from absl.testing import parameterized
import numpy as np
import tensorflow as tf
import keras

from tenas_tf import indicators
from tenas_tf import spaces
from tests import testing_utils


def _conv_bn_model(seed=0, depthwise=False):
  """Conv -> BN -> ReLU -> conv (or depthwise) -> BN -> ReLU -> GAP -> Dense, non-trivial BN."""
  keras.utils.set_random_seed(seed)
  inputs = keras.Input((6, 6, 3))
  x = keras.layers.Conv2D(4, 3, padding="same", use_bias=True, name="conv")(inputs)
  x = keras.layers.BatchNormalization(name="bn_a")(x)
  x = keras.layers.ReLU(name="relu_a")(x)
  if depthwise:
    x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=True, name="second")(x)
  else:
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=True, name="second")(x)
  x = keras.layers.BatchNormalization(name="bn_b")(x)
  x = keras.layers.ReLU(name="relu_b")(x)
  x = keras.layers.GlobalAveragePooling2D()(x)
  outputs = keras.layers.Dense(3, name="dense")(x)
  model = keras.Model(inputs, outputs)
  rng = np.random.default_rng(seed)
  for name in ("bn_a", "bn_b"):
    layer = model.get_layer(name)
    layer.gamma.assign(rng.uniform(0.5, 1.5, layer.gamma.shape).astype("float32"))
    layer.beta.assign(rng.uniform(-0.5, 0.5, layer.beta.shape).astype("float32"))
  for name in ("conv", "second", "dense"):
    layer = model.get_layer(name)
    layer.bias.assign(rng.uniform(-0.5, 0.5, layer.bias.shape).astype("float32"))
  return model


def _hand_picked_variables(model):
  """The NTK parameter set of `_conv_bn_model`, listed by hand.

  Keras 3 names a DepthwiseConv2D's depthwise kernel `kernel` (path `.../kernel`).
  """
  return [model.get_layer("conv").kernel, model.get_layer("bn_a").gamma,
          model.get_layer("second").kernel, model.get_layer("bn_b").gamma,
          model.get_layer("dense").kernel]


def _oracle_gram(model, images, variables):
  """J J^T from ONE training-mode forward of the batch; row i = d(sum_c logit_ic)/d variables.

  Row i is the vector-Jacobian product of the per-sample logit sums with the one-hot e_i.
  """
  n = images.shape[0]
  with tf.GradientTape(persistent=True) as tape:
    sums = tf.reduce_sum(model(images, training=True), axis=1)
  rows = []
  for i in range(n):
    grads = tape.gradient(sums, variables, output_gradients=tf.one_hot(i, n))
    rows.append(np.concatenate([np.asarray(g, np.float64).ravel() for g in grads]))
  jacobian = np.stack(rows)
  return jacobian @ jacobian.T


def _per_sample_forward_gram(model, images, variables):
  """The WRONG kernel: one forward per sample (BN statistics of a single image)."""
  rows = []
  for i in range(images.shape[0]):
    with tf.GradientTape() as tape:
      total = tf.reduce_sum(model(images[i:i + 1], training=True))
    grads = tape.gradient(total, variables)
    rows.append(np.concatenate([np.asarray(g, np.float64).ravel() for g in grads]))
  jacobian = np.stack(rows)
  return jacobian @ jacobian.T


def _linear_model(input_shape, outputs, use_bias, seed=0):
  """Flatten -> Dense(outputs); its NTK is outputs * X X^T (X: flattened inputs)."""
  keras.utils.set_random_seed(seed)
  model = keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(),
                            keras.layers.Dense(outputs, use_bias=use_bias)])
  if use_bias:
    dense = model.layers[-1]
    dense.bias.assign(np.linspace(-1.0, 1.0, outputs).astype("float32"))
  return model


class NTKOracleTest(parameterized.TestCase, tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.model = _conv_bn_model()
    cls.images = tf.random.stateless_normal((5, 6, 6, 3), seed=(1, 2))
    cls.oracle = _oracle_gram(cls.model, cls.images, _hand_picked_variables(cls.model))

  @parameterized.parameters("jacobian", "loop")
  def test_gram_equals_per_sample_gradient_oracle(self, method):
    gram = indicators.ntk_gram(self.model, self.images, method=method)
    self.assertEqual(gram.dtype, np.float64)
    self.assertEqual(gram.shape, (5, 5))
    self.assertAllClose(gram, self.oracle, **testing_utils.tolerance(np.float32))

  def test_jacobian_equals_loop(self):
    jacobian = indicators.ntk_gram(self.model, self.images, method="jacobian")
    loop = indicators.ntk_gram(self.model, self.images, method="loop")
    self.assertAllClose(jacobian, loop, **testing_utils.tolerance(np.float32))

  def test_explicit_variables_equal_oracle(self):
    variables = [self.model.get_layer("dense").kernel, self.model.get_layer("bn_b").gamma]
    gram = indicators.ntk_gram(self.model, self.images, variables=variables)
    self.assertAllClose(gram, _oracle_gram(self.model, self.images, variables),
                        **testing_utils.tolerance(np.float32))

  def test_batch_coupling_matters(self):
    # The oracle must differ from per-sample forwards, else the test could not see that bug.
    wrong = _per_sample_forward_gram(self.model, self.images, _hand_picked_variables(self.model))
    self.assertGreater(np.max(np.abs(wrong - self.oracle)), 1e-2 * np.max(np.abs(self.oracle)))

  def test_gram_is_symmetric_positive_semidefinite(self):
    gram = indicators.ntk_gram(self.model, self.images)
    self.assertAllClose(gram, gram.T, **testing_utils.tolerance(np.float64))
    self.assertGreater(np.linalg.eigvalsh(gram)[0], -1e-6 * np.linalg.eigvalsh(gram)[-1])

  def test_condition_number_and_spectrum_agree_with_oracle(self):
    eigenvalues = np.linalg.eigvalsh(self.oracle)
    spectrum = indicators.ntk_spectrum(self.model, self.images)
    self.assertAllClose(spectrum.lambda_max, eigenvalues[-1], rtol=1e-4)
    self.assertAllClose(spectrum.lambda_min, eigenvalues[0], rtol=1e-3)
    kappa = indicators.ntk_condition_number(self.model, self.images)
    self.assertAllClose(kappa, eigenvalues[-1] / eigenvalues[0], rtol=1e-3)
    self.assertTrue(spectrum.well_defined)

  @parameterized.parameters("jacobian", "loop")
  def test_depthwise_model_equals_oracle(self, method):
    model = _conv_bn_model(seed=1, depthwise=True)
    gram = indicators.ntk_gram(model, self.images, method=method)
    self.assertAllClose(gram, _oracle_gram(model, self.images, _hand_picked_variables(model)),
                        **testing_utils.tolerance(np.float32))

  def test_other_batch_size_reuses_model(self):
    images = tf.random.stateless_normal((3, 6, 6, 3), seed=(3, 4))
    gram = indicators.ntk_gram(self.model, images)
    self.assertAllClose(gram, _oracle_gram(self.model, images, _hand_picked_variables(self.model)),
                        **testing_utils.tolerance(np.float32))


class NTKLinearModelTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.product(outputs=(1, 3), use_bias=(False, True))
  def test_linear_kernel_is_outputs_times_gram_of_inputs(self, outputs, use_bias):
    # g_i = sum_c x_i . W[:, c]  =>  dg_i/dW[a, c] = x_i[a] for every c  =>  Theta = k X X^T.
    # A bias would add k to every entry; it is not an NTK parameter.
    model = _linear_model((4, 4, 2), outputs, use_bias)
    images = tf.random.stateless_normal((6, 4, 4, 2), seed=(5, 6))
    x = images.numpy().reshape(6, -1).astype(np.float64)
    expected = outputs * (x @ x.T)
    for method in ("jacobian", "loop"):
      gram = indicators.ntk_gram(model, images, method=method)
      self.assertAllClose(gram, expected, **testing_utils.tolerance(np.float64))

  @parameterized.parameters(1, 4)
  def test_condition_number_of_orthogonal_inputs(self, outputs):
    # Rows 1*e_0, 2*e_1, 3*e_2: Theta = k diag(1, 4, 9), kappa = 9 whatever k.
    images = np.zeros((3, 2, 2, 1), np.float32)
    for i in range(3):
      images.reshape(3, -1)[i, i] = i + 1.0
    model = _linear_model((2, 2, 1), outputs, use_bias=False)
    self.assertAllClose(indicators.ntk_condition_number(model, images), 9.0, rtol=1e-12)
    spectrum = indicators.ntk_spectrum(model, images, method="loop")
    self.assertAllClose(spectrum.lambda_min, outputs * 1.0, rtol=1e-12)
    self.assertAllClose(spectrum.lambda_max, outputs * 9.0, rtol=1e-12)

  def test_input_independent_kernel_is_infinite(self):
    # All-zero images: every row of J is zero, Theta = 0, lambda_min = 0 -> inf, not a sentinel.
    model = _linear_model((2, 2, 1), 2, use_bias=True)
    spectrum = indicators.ntk_spectrum(model, np.zeros((4, 2, 2, 1), np.float32))
    self.assertEqual(spectrum.condition_number, math.inf)
    self.assertFalse(spectrum.well_defined)
    self.assertEqual(indicators.ntk_condition_number(model, np.zeros((4, 2, 2, 1), np.float32)),
                     math.inf)


class NTKVariablesTest(tf.test.TestCase):

  def test_selects_kernels_and_gammas_by_role(self):
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3, use_bias=True, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn_affine")(x)
    x = keras.layers.DepthwiseConv2D(3, use_bias=True, name="depthwise")(x)
    x = keras.layers.BatchNormalization(scale=False, name="bn_no_scale")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, use_bias=True, name="dense")(x)
    model = keras.Model(inputs, outputs)
    expected = {model.get_layer("conv").kernel.path,
                model.get_layer("bn_affine").gamma.path,
                model.get_layer("depthwise").kernel.path,
                model.get_layer("dense").kernel.path}
    selected = [v.path for v in indicators.ntk_variables(model)]
    self.assertLen(selected, len(expected))
    self.assertEqual(set(selected), expected)

  def test_nb201_ntk_network_parameter_counts(self):
    # Counted on the authors' PyTorch code.
    net = spaces.ntk_network(10)
    variables = indicators.ntk_variables(net)
    self.assertEqual(sum(int(np.prod(v.shape)) for v in variables), 14_364)
    self.assertEqual(sum(int(np.prod(v.shape)) for v in net.trainable_variables), 14_677)
    self.assertLen({id(v) for v in variables}, len(variables))
    trainable = {id(v) for v in net.trainable_variables}
    for variable in variables:
      self.assertIn(id(variable), trainable, variable.path)
      name = variable.path.rsplit("/", 1)[-1]
      self.assertIn(name, ("kernel", "gamma"), variable.path)
    paths = {v.path for v in variables}
    for variable in net.variables:
      name = variable.path.rsplit("/", 1)[-1]
      if name in ("alive", "beta", "bias", "moving_mean", "moving_variance"):
        self.assertNotIn(variable.path, paths)


class SpectrumTest(parameterized.TestCase, tf.test.TestCase):

  def test_diagonal_closed_form(self):
    spectrum = indicators.spectrum_of(np.diag([1.0, 2.0, 8.0]))
    self.assertEqual(spectrum.lambda_min, 1.0)
    self.assertEqual(spectrum.lambda_max, 8.0)
    self.assertAllClose(spectrum.condition_number, 8.0, rtol=1e-15)
    self.assertTrue(spectrum.well_defined)

  def test_rotated_diagonal_closed_form(self):
    rotation = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    gram = rotation @ np.diag([1.0, 2.0, 8.0]) @ rotation.T
    self.assertAllClose(indicators.spectrum_of(gram).condition_number, 8.0, rtol=1e-12)

  @parameterized.named_parameters(
      ("singular", [[0.0, 0.0], [0.0, 3.0]]),
      ("zero", [[0.0, 0.0], [0.0, 0.0]]),
      ("indefinite", [[0.0, 1.0], [1.0, 0.0]]),
      ("negative_definite", [[-2.0, 0.0], [0.0, -1.0]]))
  def test_non_positive_lambda_min_is_infinite(self, gram):
    spectrum = indicators.spectrum_of(np.array(gram))
    self.assertLessEqual(spectrum.lambda_min, 0.0)
    self.assertEqual(spectrum.condition_number, math.inf)
    self.assertFalse(spectrum.well_defined)

  @parameterized.named_parameters(
      ("nan", [[np.nan, 0.0], [0.0, 1.0]]),
      ("inf", [[np.inf, 0.0], [0.0, 1.0]]),
      ("minus_inf", [[1.0, -np.inf], [-np.inf, 1.0]]))
  def test_non_finite_matrix_is_nan(self, gram):
    spectrum = indicators.spectrum_of(np.array(gram))
    self.assertTrue(math.isnan(spectrum.condition_number))
    self.assertFalse(spectrum.well_defined)

  def test_spectrum_is_immutable(self):
    spectrum = indicators.spectrum_of(np.eye(2))
    with self.assertRaises(AttributeError):
      spectrum.condition_number = 2.0  # frozen dataclass


class NTKBadInputTest(parameterized.TestCase, tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.model = _linear_model((4, 4, 2), 2, use_bias=False)

  @parameterized.parameters(indicators.ntk_gram, indicators.ntk_spectrum,
                            indicators.ntk_condition_number)
  def test_single_image_batch_is_rejected_naming_the_shape(self, function):
    with self.assertRaisesRegex(ValueError, r"\(1, 4, 4, 2\)"):
      function(self.model, np.zeros((1, 4, 4, 2), np.float32))

  @parameterized.parameters(indicators.ntk_gram, indicators.ntk_spectrum,
                            indicators.ntk_condition_number)
  def test_unknown_method_is_rejected_naming_it(self, function):
    with self.assertRaisesRegex(ValueError, "'power_iteration'"):
      function(self.model, np.zeros((3, 4, 4, 2), np.float32), method="power_iteration")

  def test_method_is_keyword_only(self):
    positional = (self.model, np.zeros((3, 4, 4, 2), np.float32), None, "loop")
    with self.assertRaises(TypeError):
      indicators.ntk_gram(*positional)


if __name__ == "__main__":
  tf.test.main()
