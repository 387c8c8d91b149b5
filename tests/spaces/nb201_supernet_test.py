"""Tests of the NB201 supernet: edge and cell closed forms, and the masked supernet against the
physically pruned network (same logits, NTK, condition number and linear regions)."""

import os

from absl.testing import parameterized
import keras
import numpy as np
import tensorflow as tf

from tenas_tf import indicators
from tenas_tf import spaces
from tenas_tf.spaces import ops
from tests import testing_utils

_OPS = spaces.NB201_OPS
_SKIP, _CONV1, _CONV3, _POOL = (_OPS.index(op) for op in
                                ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"))
_WITH_NONE = "|skip_connect~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|skip_connect~1|none~2|"
_BEST_C10 = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
             "|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")


def _initial_without(*dead):
  """The initial mask with the (edge, op column) pairs in `dead` killed."""
  mask = spaces.nb201_initial_mask()
  for edge, column in dead:
    mask[0, edge, column] = False
  return mask


def _genotype_mask(arch_str):
  return spaces.NB201Genotype.from_string(arch_str).alive_mask()


def _second_round_mask():
  """Two ops per edge, as after the first pruning round of a search."""
  mask = np.zeros((1, 6, 5), bool)
  for edge, columns in enumerate([(_SKIP, _CONV3), (_CONV1, _POOL), (_CONV3, _POOL),
                                  (_SKIP, _CONV1), (_CONV1, _CONV3), (_SKIP, _POOL)]):
    mask[0, edge, list(columns)] = True
  return mask


_NTK_MASKS = (
    ("initial", spaces.nb201_initial_mask),
    ("minus_conv3x3_on_edge_1_0", lambda: _initial_without((0, _CONV3))),
    ("minus_skip_on_edge_3_2", lambda: _initial_without((5, _SKIP))),
    ("second_round", _second_round_mask),
    ("genotype_with_none", lambda: _genotype_mask(_WITH_NONE)),
    ("genotype_best_cifar10", lambda: _genotype_mask(_BEST_C10)),
)
# The thin nets are cheap: more masks, including an edge left without any alive op.
_LR_MASKS = _NTK_MASKS + (
    ("minus_pool_and_conv1x1", lambda: _initial_without((2, _POOL), (3, _CONV1))),
    ("empty_edge_3_1", lambda: _initial_without(*((4, c) for c in range(1, 5)))),
)


def _rows(patterns):
  return {tuple(row) for row in patterns.tolist()}


class MixedEdgeTest(parameterized.TestCase, tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.x = np.random.default_rng(0).normal(size=(2, 5, 5, 3)).astype(np.float32)
    cls.edge = spaces.MixedEdge(3)
    cls.edge(cls.x, tf.ones(5), training=False)
    cls.pool = ops.AvgPool3x3(1)(cls.x).numpy()

  def _call(self, alive_columns):
    alive = np.zeros(5, np.float32)
    alive[list(alive_columns)] = 1.0
    return self.edge(self.x, tf.constant(alive), training=False).numpy()

  def test_single_skip_is_identity(self):
    self.assertAllClose(self._call([_SKIP]), self.x)

  def test_output_is_mean_of_alive_ops(self):
    self.assertAllClose(self._call([_SKIP, _POOL]), (self.x + self.pool) / 2.0)

  def test_alive_none_counts_in_the_mean(self):
    self.assertAllClose(self._call([0, _SKIP]), self.x / 2.0)

  def test_no_alive_op_gives_zero(self):
    self.assertAllEqual(self._call([]), np.zeros_like(self.x))

  def test_conv_op_equals_pruned_edge(self):
    pruned = spaces.MixedEdge(3, built_ops=["nor_conv_3x3", "avg_pool_3x3"], name=self.edge.name)
    alive = np.zeros(5, np.float32)
    alive[[_CONV3, _POOL]] = 1.0
    pruned(self.x, tf.constant(alive), training=False)
    testing_utils.copy_matching_weights(self.edge, pruned)
    self.assertAllClose(pruned(self.x, tf.constant(alive), training=True),
                        self.edge(self.x, tf.constant(alive), training=True),
                        **testing_utils.tolerance(np.float32))

  def test_without_a_mask_every_built_op_is_alive(self):
    alive = np.zeros(5, np.float32)
    alive[[_SKIP, _POOL]] = 1.0
    pair = spaces.MixedEdge(3, built_ops=["skip_connect", "avg_pool_3x3"])
    self.assertAllClose(pair(self.x, training=False), (self.x + self.pool) / 2.0)
    self.assertAllClose(pair(self.x, training=False),
                        pair(self.x, tf.constant(alive), training=False))
    self.assertAllEqual(spaces.MixedEdge(3, built_ops=["avg_pool_3x3"])(self.x), self.pool)
    self.assertAllEqual(spaces.MixedEdge(3, built_ops=[])(self.x), np.zeros_like(self.x))

  def test_drop_path_drops_whole_samples_of_the_edge_output_in_training_only(self):
    x = np.random.default_rng(6).uniform(1.0, 2.0, size=(64, 5, 5, 3)).astype(np.float32)
    edge = spaces.MixedEdge(3, built_ops=["avg_pool_3x3"], drop_path_rate=0.5, seed=4)
    pool = ops.AvgPool3x3(1)(x).numpy()
    self.assertAllEqual(edge(x, training=False), pool)
    out = edge(x, training=True).numpy()
    dropped = np.all(out == 0, axis=(1, 2, 3))
    self.assertAllClose(out[~dropped], pool[~dropped] / 0.5)
    self.assertBetween(dropped.mean(), 0.25, 0.75)
    # An identity or a zero is never dropped: no DropPath at all.
    for op in ("skip_connect", "none"):
      self.assertIsNone(spaces.MixedEdge(3, built_ops=[op], drop_path_rate=0.5).drop_path)

  def test_bad_arguments_are_rejected(self):
    with self.assertRaisesRegex(ValueError, r"op must be one of \('none', .*got 'conv3x3'"):
      spaces.MixedEdge(3, built_ops=["conv3x3"])
    with self.assertRaisesRegex(ValueError, r"space must be one of \('nb201', 'darts'\); "
                                            "got 'nasbench101'"):
      spaces.MixedEdge(3, space="nasbench101")
    with self.assertRaisesRegex(ValueError, r"strides must be one of \(1,\); got 2"):
      spaces.MixedEdge(3, strides=2)
    with self.assertRaisesRegex(ValueError, "channels must be an int >= 1; got 0"):
      spaces.MixedEdge(0)
    with self.assertRaisesRegex(ValueError, r"drop_path_rate must be a float in \[0, 1\); "
                                            "got 1.0"):
      spaces.MixedEdge(3, drop_path_rate=1.0)


class NB201CellTest(tf.test.TestCase):

  def test_all_skip_cell_closed_form(self):
    # node1 = x, node2 = x + node1 = 2x, node3 = x + node1 + node2 = 4x.
    x = np.random.default_rng(1).normal(size=(2, 4, 4, 3)).astype(np.float32)
    cell = spaces.NB201Cell(3)
    alive = np.zeros((6, 5), np.float32)
    alive[:, _SKIP] = 1.0
    self.assertAllClose(cell(x, tf.constant(alive), training=True), 4.0 * x)

  def test_only_edge_3_0_pooled(self):
    x = np.random.default_rng(2).normal(size=(2, 4, 4, 3)).astype(np.float32)
    cell = spaces.NB201Cell(3)
    alive = np.zeros((6, 5), np.float32)
    alive[:, 0] = 1.0   # none everywhere ...
    alive[3] = 0.0
    alive[3, _POOL] = 1.0  # ... but 3<-0 (edge index 3) is an average pool
    self.assertAllClose(cell(x, tf.constant(alive), training=True), ops.AvgPool3x3(1)(x))

  def test_built_ops_must_list_six_edges(self):
    with self.assertRaisesRegex(ValueError, "6"):
      spaces.NB201Cell(3, built_ops=[["skip_connect"]] * 5)


class SetAliveTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.pruned = spaces.linear_region_network(10, built_ops=spaces.built_ops_of(
        _genotype_mask(_BEST_C10)))

  def test_wrong_shape_is_rejected_naming_it(self):
    with self.assertRaisesRegex(ValueError, r"\(6, 5\)"):
      self.pruned.set_alive(np.ones((6, 5), bool))

  def test_unbuilt_op_cannot_be_alive(self):
    with self.assertRaisesRegex(ValueError, "did not build"):
      self.pruned.set_alive(spaces.nb201_initial_mask())

  def test_built_mask_is_the_default_alive_mask(self):
    self.assertAllEqual(self.pruned.alive, _genotype_mask(_BEST_C10).astype(np.float32))

  def test_bad_network_arguments(self):
    with self.assertRaisesRegex(ValueError, "channels"):
      spaces.NB201SearchNetwork(0, 1, 10)
    with self.assertRaisesRegex(ValueError, "max_layers"):
      spaces.NB201SearchNetwork(1, 1, 10, max_layers=0)


class MaskEquivalenceTest(parameterized.TestCase, tf.test.TestCase):
  """A masked supernet equals the network in which the dead ops are physically absent."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.supernet = spaces.ntk_network(10, seed=0)
    cls.thin_supernet = spaces.linear_region_network(10, seed=0)
    cls.images = tf.random.stateless_normal((6, 32, 32, 3), seed=(0, 1))
    cls.samples = tf.random.stateless_normal((1000, 3, 3, 1), seed=(2, 3))

  @parameterized.named_parameters(*_NTK_MASKS)
  def test_ntk_network_equivalence(self, make_mask):
    mask = make_mask()
    self.supernet.set_alive(mask)
    pruned = testing_utils.pruned_copy(self, self.supernet, spaces.ntk_network, mask,
                                       spaces.built_ops_of)
    self.assertAllClose(pruned(self.images, training=True),
                        self.supernet(self.images, training=True),
                        **testing_utils.tolerance(np.float32))
    gram = indicators.ntk_gram(self.supernet, self.images)
    # The supernet's Jacobian function is traced once for every mask; each pruned network is a
    # new model, so it takes the per-sample loop (no tracing; jacobian == loop is tested below).
    pruned_gram = indicators.ntk_gram(pruned, self.images, method="loop")
    self.assertAllClose(pruned_gram, gram, **testing_utils.tolerance(np.float32))
    self.assertAllClose(indicators.spectrum_of(pruned_gram).condition_number,
                        indicators.spectrum_of(gram).condition_number, rtol=1e-3)
    self.assertEqual(indicators.ntk_condition_number(self.supernet, self.images),
                     indicators.spectrum_of(gram).condition_number)

  @parameterized.named_parameters(*_LR_MASKS)
  def test_linear_region_network_equivalence(self, make_mask):
    mask = make_mask()
    self.thin_supernet.set_alive(mask)
    pruned = testing_utils.pruned_copy(self, self.thin_supernet, spaces.linear_region_network,
                                       mask, spaces.built_ops_of)
    masked = testing_utils.drop_constant_columns(
        indicators.relu_sign_patterns(self.thin_supernet, self.samples))
    physical = testing_utils.drop_constant_columns(
        indicators.relu_sign_patterns(pruned, self.samples))
    self.assertAllEqual(masked, physical)
    self.assertEqual(_rows(masked), _rows(physical))
    self.assertEqual(indicators.num_linear_regions(self.thin_supernet, self.samples),
                     indicators.num_linear_regions(pruned, self.samples))
    self.assertEqual(indicators.num_linear_regions(pruned, self.samples), len(_rows(physical)))

  def test_dead_op_has_zero_jacobian_columns(self):
    self.supernet.set_alive(_initial_without((0, _CONV3)))
    dead = [v for v in indicators.ntk_variables(self.supernet)
            if "cell_0_0/edge_0_to_1/nor_conv_3x3/" in v.path]
    self.assertLen(dead, 2)  # conv kernel and BN gamma
    gram = indicators.ntk_gram(self.supernet, self.images[:4], variables=dead, method="loop")
    self.assertAllEqual(gram, np.zeros((4, 4)))
    self.supernet.set_alive(spaces.nb201_initial_mask())
    gram = indicators.ntk_gram(self.supernet, self.images[:4], variables=dead, method="loop")
    self.assertGreater(np.min(np.diag(gram)), 0.0)

  def test_jacobian_equals_loop_on_supernet(self):
    self.supernet.set_alive(_initial_without((4, _POOL)))
    self.assertAllClose(indicators.ntk_gram(self.supernet, self.images, method="jacobian"),
                        indicators.ntk_gram(self.supernet, self.images, method="loop"),
                        **testing_utils.tolerance(np.float32))

  def test_removing_an_op_changes_the_indicators(self):
    # Guards the equivalence tests against a mask that has no effect at all.
    self.supernet.set_alive(spaces.nb201_initial_mask())
    origin = indicators.ntk_gram(self.supernet, self.images)
    self.supernet.set_alive(_initial_without((0, _CONV3)))
    self.assertNotAllClose(indicators.ntk_gram(self.supernet, self.images), origin)


class SupernetConfigTest(parameterized.TestCase, tf.test.TestCase):

  def test_mixed_edge(self):
    edge = spaces.MixedEdge(3, built_ops=["skip_connect", "nor_conv_1x1"], init="kaiming_normal",
                            name="edge")
    alive = tf.constant([0.0, 1.0, 1.0, 0.0, 0.0])
    x = np.random.default_rng(3).normal(size=(2, 4, 4, 3)).astype(np.float32)
    testing_utils.assert_clones_match(self, edge, x,
                                      lambda layer, v: layer(v, alive, training=True))
    config = edge.get_config()
    self.assertEqual(list(config["built_ops"]), ["skip_connect", "nor_conv_1x1"])
    self.assertEqual(config["space"], "nb201")

  def test_search_cell(self):
    built = spaces.built_ops_of(_second_round_mask())
    cell = spaces.NB201Cell(2, built_ops=built, name="cell")
    alive = tf.constant(_second_round_mask()[0].astype(np.float32))
    x = np.random.default_rng(4).normal(size=(2, 4, 4, 2)).astype(np.float32)
    testing_utils.assert_clones_match(self, cell, x,
                                      lambda layer, v: layer(v, alive, training=True))
    self.assertEqual([list(e) for e in cell.get_config()["built_ops"]], built)

  @parameterized.named_parameters(
      ("ntk_full", dict(channels=1, cells_per_stage=1, num_classes=10), (2, 8, 8, 3)),
      ("ntk_pruned", dict(channels=3, cells_per_stage=1, num_classes=5,
                          built_ops=spaces.built_ops_of(_genotype_mask(_WITH_NONE))),
       (2, 8, 8, 3)),
      ("thin", dict(channels=1, cells_per_stage=1, num_classes=10, use_stem=False,
                    max_layers=1, init="kaiming_normal"), (2, 3, 3, 1)))
  def test_search_network(self, kwargs, input_shape):
    net = spaces.NB201SearchNetwork(**kwargs, name="net")
    x = np.random.default_rng(5).normal(size=input_shape).astype(np.float32)
    testing_utils.assert_clones_match(self, net, x, lambda layer, v: layer(v, training=True))
    config = net.get_config()
    for key, value in kwargs.items():
      self.assertEqual(config[key], value, key)

  def test_keras_file_round_trip_is_bit_identical(self):
    # Loading calls the network's own `build` with the saved input shape, then loads the weights.
    net = spaces.NB201SearchNetwork(channels=3, cells_per_stage=1, num_classes=10, name="net")
    x = np.random.default_rng(6).normal(size=(2, 8, 8, 3)).astype(np.float32)
    net(x)
    path = os.path.join(self.get_temp_dir(), "net.keras")
    net.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    self.assertIs(type(loaded), spaces.NB201SearchNetwork)
    self.assertEqual([v.path for v in loaded.variables], [v.path for v in net.variables])
    for saved, restored in zip(net.variables, loaded.variables):
      self.assertAllEqual(restored, saved)
    self.assertAllEqual(loaded(x, training=True), net(x, training=True))


if __name__ == "__main__":
  tf.test.main()
