"""Tests of the linear-region count against an explicit enumeration of sign patterns."""

import itertools

from absl.testing import parameterized
import numpy as np
import tensorflow as tf
import keras

from tenas_tf import indicators


def _relu_net(kernel, bias):
  """2-D input -> Dense(h) (given weights) -> ReLU -> Dense(1); no BatchNorm."""
  kernel = np.asarray(kernel, np.float32)
  bias = np.asarray(bias, np.float32)
  model = keras.Sequential([keras.Input((2,)),
                            keras.layers.Dense(kernel.shape[1], name="hidden"),
                            keras.layers.ReLU(name="relu"),
                            keras.layers.Dense(1, name="out")])
  model.get_layer("hidden").set_weights([kernel, bias])
  return model


def _numpy_patterns(points, kernel, bias):
  """The sign pattern x @ W + b > 0 of each point, in float32 like the model."""
  points = np.asarray(points, np.float32)
  return (points @ np.asarray(kernel, np.float32) + np.asarray(bias, np.float32)) > 0


def _distinct(patterns):
  return len({tuple(row) for row in np.asarray(patterns, bool).tolist()})


def _grid(low, high, steps):
  # Offset so that no point lies on the hand-made hyperplanes x=0, y=0, x+y=1.
  axis = np.linspace(low, high, steps) + 0.0123
  return np.array(list(itertools.product(axis, axis)), np.float32)


class ReLUNetBruteForceTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.parameters((3, 0), (8, 1), (20, 2))
  def test_count_equals_enumeration_on_random_points(self, hidden, seed):
    rng = np.random.default_rng(seed)
    kernel = rng.normal(size=(2, hidden))
    bias = rng.normal(size=hidden)
    model = _relu_net(kernel, bias)
    points = rng.normal(scale=3.0, size=(500, 2)).astype(np.float32)
    expected = _numpy_patterns(points, kernel, bias)
    patterns = indicators.relu_sign_patterns(model, points)
    self.assertEqual(patterns.dtype, bool)
    self.assertAllEqual(patterns, expected)
    self.assertEqual(indicators.num_linear_regions(model, points), _distinct(expected))

  def test_count_equals_enumeration_on_grid(self):
    rng = np.random.default_rng(7)
    kernel = rng.normal(size=(2, 6))
    bias = rng.normal(size=6)
    points = _grid(-4.0, 4.0, 60)
    self.assertEqual(indicators.num_linear_regions(_relu_net(kernel, bias), points),
                     _distinct(_numpy_patterns(points, kernel, bias)))

  def test_lines_in_general_position_closed_form(self):
    # Units x > 0, y > 0, x + y > 1: three lines in general position cut the plane into
    # 1 + 3 + C(3, 2) = 7 regions, all of which a grid over [-5, 5]^2 visits.
    kernel = [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]
    bias = [0.0, 0.0, -1.0]
    points = _grid(-5.0, 5.0, 41)
    self.assertEqual(indicators.num_linear_regions(_relu_net(kernel, bias), points), 7)

  def test_two_axis_units_give_four_quadrants(self):
    points = _grid(-2.0, 2.0, 21)
    model = _relu_net([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0])
    self.assertEqual(indicators.num_linear_regions(model, points), 4)

  def test_duplicated_and_constant_units_do_not_change_the_count(self):
    rng = np.random.default_rng(3)
    kernel = rng.normal(size=(2, 5)).astype(np.float32)
    bias = rng.normal(size=5).astype(np.float32)
    points = rng.normal(scale=2.0, size=(400, 2)).astype(np.float32)
    base = indicators.num_linear_regions(_relu_net(kernel, bias), points)
    # Units 0 and 1 copied; a unit with zero weights and negative bias (always off) and one with
    # zero weights and positive bias (always on).
    extra_kernel = np.concatenate([kernel, kernel[:, :2], np.zeros((2, 2), np.float32)], axis=1)
    extra_bias = np.concatenate([bias, bias[:2], np.array([-1.0, 1.0], np.float32)])
    padded = _relu_net(extra_kernel, extra_bias)
    patterns = indicators.relu_sign_patterns(padded, points)
    self.assertAllEqual(patterns[:, 5:7], patterns[:, :2])
    self.assertFalse(np.any(patterns[:, 7]))
    self.assertTrue(np.all(patterns[:, 8]))
    self.assertEqual(indicators.num_linear_regions(padded, points), base)

  def test_activation_relu_layer_is_recorded(self):
    rng = np.random.default_rng(4)
    kernel = rng.normal(size=(2, 4)).astype(np.float32)
    bias = rng.normal(size=4).astype(np.float32)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, name="hidden"),
                              keras.layers.Activation("relu"), keras.layers.Dense(1)])
    model.get_layer("hidden").set_weights([kernel, bias])
    points = rng.normal(size=(300, 2)).astype(np.float32)
    self.assertAllEqual(indicators.relu_sign_patterns(model, points),
                        _numpy_patterns(points, kernel, bias))

  def test_patterns_concatenate_relus_in_call_order(self):
    # Two ReLU layers: columns are [first layer's units, second layer's units].
    rng = np.random.default_rng(5)
    w1, b1 = rng.normal(size=(2, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    w2, b2 = rng.normal(size=(3, 2)).astype(np.float32), rng.normal(size=2).astype(np.float32)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, name="d1"),
                              keras.layers.ReLU(), keras.layers.Dense(2, name="d2"),
                              keras.layers.ReLU(), keras.layers.Dense(1)])
    model.get_layer("d1").set_weights([w1, b1])
    model.get_layer("d2").set_weights([w2, b2])
    points = rng.normal(size=(200, 2)).astype(np.float32)
    hidden = np.maximum(points @ w1 + b1, 0.0)
    expected = np.concatenate([hidden > 0, hidden @ w2 + b2 > 0], axis=1)
    self.assertAllEqual(indicators.relu_sign_patterns(model, points), expected)

  def test_multiple_batches_unite_their_patterns(self):
    rng = np.random.default_rng(6)
    kernel = rng.normal(size=(2, 6)).astype(np.float32)
    bias = rng.normal(size=6).astype(np.float32)
    model = _relu_net(kernel, bias)
    a = rng.normal(scale=3.0, size=(150, 2)).astype(np.float32)
    # b repeats part of a, so a plain sum of per-batch counts would over-count.
    b = np.concatenate([a[:40], rng.normal(scale=3.0, size=(90, 2))]).astype(np.float32)
    union = ({tuple(r) for r in _numpy_patterns(a, kernel, bias).tolist()}
             | {tuple(r) for r in _numpy_patterns(b, kernel, bias).tolist()})
    self.assertEqual(indicators.num_linear_regions(model, [a, b]), len(union))
    self.assertEqual(indicators.num_linear_regions(model, (a, b)), len(union))
    patterns = np.concatenate([indicators.relu_sign_patterns(model, a),
                               indicators.relu_sign_patterns(model, b)])
    self.assertEqual(indicators.count_distinct_rows(patterns), len(union))

  def test_batch_norm_runs_in_training_mode(self):
    # Dense -> BN -> ReLU: the pattern is (h - batch mean) / sqrt(batch var + eps) > 0. Inputs far
    # from zero make the inference-mode pattern (moving mean 0, var 1) all on, so they differ.
    rng = np.random.default_rng(9)
    kernel = rng.normal(size=(2, 4)).astype(np.float32)
    bias = np.full(4, 10.0, np.float32)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, name="hidden"),
                              keras.layers.BatchNormalization(), keras.layers.ReLU(),
                              keras.layers.Dense(1)])
    model.get_layer("hidden").set_weights([kernel, bias])
    points = rng.normal(size=(256, 2)).astype(np.float32)
    hidden = points.astype(np.float64) @ kernel + bias
    expected = hidden - hidden.mean(axis=0) > 0
    self.assertFalse(np.all(expected))
    self.assertAllEqual(indicators.relu_sign_patterns(model, points), expected)
    self.assertEqual(indicators.num_linear_regions(model, points), _distinct(expected))

  def test_unit_count_is_every_relu_output_value_of_a_sample(self):
    # 5x5x3 values after the 'same' conv, 3x3x2 after the 'valid' one: 75 + 18.
    model = keras.Sequential([keras.Input((5, 5, 1)),
                              keras.layers.Conv2D(3, 3, padding="same"), keras.layers.ReLU(),
                              keras.layers.Conv2D(2, 3), keras.layers.ReLU(),
                              keras.layers.Flatten(), keras.layers.Dense(1)])
    samples = np.random.default_rng(0).normal(size=(4, 5, 5, 1)).astype(np.float32)
    self.assertEqual(indicators.relu_unit_count(model, samples), 93)
    self.assertEqual(indicators.relu_sign_patterns(model, samples).shape, (4, 93))

  def test_count_is_between_one_and_sample_count(self):
    rng = np.random.default_rng(8)
    model = _relu_net(rng.normal(size=(2, 30)), rng.normal(size=30))
    points = rng.normal(size=(64, 2)).astype(np.float32)
    count = indicators.num_linear_regions(model, points)
    self.assertBetween(count, 1, 64)


class CountDistinctRowsTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.parameters((1, 1, 0.5), (10, 3, 0.5), (200, 7, 0.3), (500, 8, 0.5),
                            (500, 9, 0.5), (300, 17, 0.9), (1000, 40, 0.5), (50, 200, 0.01))
  def test_equals_python_set(self, rows, columns, p_true):
    rng = np.random.default_rng(rows * 1000 + columns)
    patterns = rng.random((rows, columns)) < p_true
    self.assertEqual(indicators.count_distinct_rows(patterns), _distinct(patterns))

  def test_rows_differing_only_in_last_bit_of_a_byte(self):
    # Bit-packing must not merge rows that differ in a padded byte's last used bit.
    patterns = np.zeros((2, 9), bool)
    patterns[1, 8] = True
    self.assertEqual(indicators.count_distinct_rows(patterns), 2)

  def test_accepts_int_rows_and_lists(self):
    self.assertEqual(indicators.count_distinct_rows([[0, 1], [0, 1], [1, 0]]), 2)

  def test_no_rows(self):
    self.assertEqual(indicators.count_distinct_rows(np.zeros((0, 4), bool)), 0)

  def test_rows_without_units_are_one_row(self):
    self.assertEqual(indicators.count_distinct_rows(np.zeros((3, 0), bool)), 1)

  @parameterized.parameters((5,), (2, 3, 4))
  def test_non_matrix_is_rejected(self, *shape):
    with self.assertRaisesRegex(ValueError, "2-D"):
      indicators.count_distinct_rows(np.zeros(shape, bool))


class LinearRegionErrorsTest(tf.test.TestCase):

  def test_model_without_relu_is_rejected(self):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, activation="tanh"),
                              keras.layers.Dense(1)])
    with self.assertRaisesRegex(ValueError, "ReLU"):
      indicators.num_linear_regions(model, np.zeros((3, 2), np.float32))
    with self.assertRaisesRegex(ValueError, model.name):
      indicators.relu_sign_patterns(model, np.zeros((3, 2), np.float32))
    with self.assertRaisesRegex(ValueError, model.name):
      indicators.relu_unit_count(model, np.zeros((3, 2), np.float32))

  def test_empty_batch_list_is_rejected(self):
    model = _relu_net(np.ones((2, 2)), np.zeros(2))
    with self.assertRaisesRegex(ValueError, "sample_batches"):
      indicators.num_linear_regions(model, [])


if __name__ == "__main__":
  tf.test.main()
