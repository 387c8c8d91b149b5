"""`tenas_tf.score` against direct indicator calls and hand-computed ranks."""

import numpy as np
import tensorflow as tf
import keras

import tenas_tf
from tenas_tf import indicators
from tenas_tf import search

IMAGE_SHAPE = (6, 6, 3)


def _cnn(width, zero_input=False):
  """Conv-BN-ReLU x2 -> GAP -> Dense(3); `zero_input` multiplies the input by 0 first."""
  layers = [keras.Input(IMAGE_SHAPE)]
  if zero_input:
    layers.append(keras.layers.Rescaling(0.0))  # the output no longer depends on the input
  layers += [keras.layers.Conv2D(width, 3, padding="same", use_bias=False),
             keras.layers.BatchNormalization(), keras.layers.ReLU(),
             keras.layers.Conv2D(width, 3, padding="same", use_bias=False),
             keras.layers.BatchNormalization(), keras.layers.ReLU(),
             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)]
  return keras.Sequential(layers)


def _thin(width):
  """A 3x3x1-input net for the region count, as TE-NAS's thin networks."""
  return keras.Sequential([keras.Input((3, 3, 1)),
                           keras.layers.Conv2D(width, 3, padding="same", use_bias=False),
                           keras.layers.BatchNormalization(), keras.layers.ReLU(),
                           keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])


def _batches(count, shape, seed):
  rng = np.random.default_rng(seed)
  return [tf.constant(rng.normal(size=shape), tf.float32) for _ in range(count)]


def _dense_ranks_by_value(values, descending):
  """0-based dense ranks by exact value (the search's rule agrees when no two values share their
  3 leading digits)."""
  distinct = sorted(set(values), reverse=descending)
  return np.array([distinct.index(v) for v in values])


class ScoreTest(tf.test.TestCase):

  def test_values_equal_direct_indicator_calls_on_the_same_inputs(self):
    keras.utils.set_random_seed(1)
    models = [_cnn(2), _cnn(3), _cnn(4)]
    ntk_batches = _batches(2, (4,) + IMAGE_SHAPE, seed=0)
    lr_batches = _batches(2, (40,) + IMAGE_SHAPE, seed=1)
    scores = tenas_tf.score(models, ntk_batches, lr_batches, draws=2)

    for i, model in enumerate(models):
      for draw in range(2):
        self.assertEqual(scores.kappa[i, draw],
                         indicators.ntk_condition_number(model, ntk_batches[draw]))
        self.assertEqual(scores.regions[i, draw],
                         indicators.num_linear_regions(model, [lr_batches[draw]]))
    self.assertAllEqual(scores.kappa_median, np.median(scores.kappa, axis=1))
    self.assertAllEqual(scores.regions_median, np.median(scores.regions, axis=1))
    self.assertTrue(np.all(np.isfinite(scores.kappa)))
    self.assertEqual(scores.warnings, ())

  def test_rank_sum_is_dense_kappa_rank_plus_dense_region_rank(self):
    keras.utils.set_random_seed(2)
    models = [_cnn(w) for w in (1, 2, 3, 4)]
    scores = tenas_tf.score(models, _batches(3, (4,) + IMAGE_SHAPE, 3),
                            _batches(3, (40,) + IMAGE_SHAPE, 4), draws=3)
    kappa_rank = _dense_ranks_by_value(scores.kappa_median.tolist(), descending=False)
    regions_rank = _dense_ranks_by_value(scores.regions_median.tolist(), descending=True)
    self.assertAllEqual(scores.kappa_rank, kappa_rank)
    self.assertAllEqual(scores.regions_rank, regions_rank)
    self.assertAllEqual(scores.rank_sum, kappa_rank + regions_rank)
    self.assertAllEqual(scores.best_first(), np.argsort(kappa_rank + regions_rank, kind="stable"))

  def test_combined_ranks_by_hand(self):
    # kappa ascending: 50 -> 0 (twice), 100 -> 1, 200 -> 2, inf and nan -> 3 (last, shared).
    # regions descending: 30 -> 0 (twice), 20 -> 1, 10 -> 2, 5 -> 3.
    kappa_rank, regions_rank, rank_sum = search.combined_ranks(
        [100.0, 50.0, np.inf, 50.0, 200.0, np.nan], [10, 30, 5, 20, 30, 10])
    self.assertAllEqual(kappa_rank, [1, 0, 3, 0, 2, 3])
    self.assertAllEqual(regions_rank, [2, 0, 3, 1, 0, 2])
    self.assertAllEqual(rank_sum, [3, 0, 6, 1, 2, 5])

  def test_builder_is_called_once_per_draw_and_each_draw_uses_its_models(self):
    built = []

    def builder():
      built.append([_cnn(2), _cnn(3)])
      return built[-1]

    keras.utils.set_random_seed(3)
    ntk_batches = _batches(3, (4,) + IMAGE_SHAPE, 5)
    scores = tenas_tf.score(builder, iter(ntk_batches), _batches(3, (40,) + IMAGE_SHAPE, 6),
                            draws=3)
    self.assertLen(built, 3)
    for draw, models in enumerate(built):
      for i, model in enumerate(models):
        self.assertEqual(scores.kappa[i, draw],
                         indicators.ntk_condition_number(model, ntk_batches[draw]))

  def test_regions_are_counted_on_lr_models_over_the_batches_of_a_draw(self):
    keras.utils.set_random_seed(4)
    models, thin = [_cnn(2), _cnn(3)], [_thin(2), _thin(3)]
    samples = _batches(4, (40, 3, 3, 1), 7)
    scores = tenas_tf.score(models, _batches(2, (4,) + IMAGE_SHAPE, 8), samples, draws=2,
                            lr_models=thin, lr_batches_per_draw=2)
    for i, net in enumerate(thin):
      self.assertEqual(scores.regions[i, 0], indicators.num_linear_regions(net, samples[:2]))
      self.assertEqual(scores.regions[i, 1], indicators.num_linear_regions(net, samples[2:]))

  def test_lr_defaults_to_the_ntk_batch_and_init_redraws_weights_per_draw(self):
    keras.utils.set_random_seed(5)
    twins = [_cnn(3), _cnn(3)]  # one structure: the same seed gives the same weights
    ntk_batches = _batches(2, (8,) + IMAGE_SHAPE, 9)
    scores = tenas_tf.score(twins, ntk_batches, draws=2, init="pytorch_default", seed=7)
    self.assertAllEqual(scores.kappa[0], scores.kappa[1])
    self.assertNotEqual(scores.kappa[0, 0], scores.kappa[0, 1])
    # Regions on the NTK batch itself: at most its 8 samples.
    self.assertAllEqual(scores.regions[:, 1],
                        [indicators.num_linear_regions(m, ntk_batches[1]) for m in twins])
    self.assertTrue(np.all(scores.regions <= 8))

  def test_degenerate_model_ranks_last_without_nan(self):
    keras.utils.set_random_seed(6)
    models = [_cnn(2), _cnn(3), _cnn(3, zero_input=True)]
    scores = tenas_tf.score(models, _batches(2, (4,) + IMAGE_SHAPE, 10),
                            _batches(2, (40,) + IMAGE_SHAPE, 11), draws=2)
    self.assertAllEqual(scores.kappa[2], [np.inf, np.inf])
    self.assertAllEqual(scores.regions[2], [1, 1])
    self.assertEqual(int(np.argmax(scores.rank_sum)), 2)
    self.assertGreater(scores.rank_sum[2], max(scores.rank_sum[:2]))
    self.assertEqual(scores.best_first()[-1], 2)
    for name in ("kappa", "kappa_median", "regions_median"):
      self.assertFalse(np.any(np.isnan(getattr(scores, name))), name)
    self.assertLen(scores.warnings, 2)
    self.assertRegex(scores.warnings[0], r"model 2, draw 1: kappa is not finite \(lambda_min")

  def test_bad_arguments_are_named(self):
    model = _cnn(2)
    batch = _batches(1, (4,) + IMAGE_SHAPE, 12)[0]
    with self.assertRaisesRegex(ValueError, r"draws must be an int >= 1; got 0"):
      tenas_tf.score([model], [batch], draws=0)
    with self.assertRaisesRegex(ValueError, r"ntk_batches must be an iterable of batches.*"
                                            r"shape \(4, 6, 6, 3\)"):
      tenas_tf.score([model], batch, draws=1)
    with self.assertRaisesRegex(ValueError, r"ntk_batches ran out at draw 2 of 2"):
      tenas_tf.score([model], [batch], draws=2)
    with self.assertRaisesRegex(ValueError, r"models must be a non-empty list of keras.Model"):
      tenas_tf.score([], [batch], draws=1)
    with self.assertRaisesRegex(ValueError, r"lr_models must hold one model per scored model "
                                            r"\(1\); got 2"):
      tenas_tf.score([model], [batch], draws=1, lr_models=[_thin(1), _thin(1)])
    with self.assertRaisesRegex(ValueError, r"init must be one of .*got 'glorot'"):
      tenas_tf.score([model], [batch], draws=1, init="glorot")
    sizes = iter([1, 2])
    with self.assertRaisesRegex(ValueError, r"models must hold one model per scored model "
                                            r"\(1\); got 2 at draw 2"):
      tenas_tf.score(lambda: [_cnn(2) for _ in range(next(sizes))], [batch, batch], draws=2)


if __name__ == "__main__":
  tf.test.main()
