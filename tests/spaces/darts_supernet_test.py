"""Tests of the DARTS supernet: edge and cell closed forms, the reference's parameter counts, and
the masked supernet against the physically pruned network (same logits, NTK and regions)."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from tenas_tf import indicators
from tenas_tf.spaces import darts
from tenas_tf.spaces import darts_ops
from tenas_tf.spaces import darts_supernet
from tenas_tf.spaces import DARTS_OPS, TENAS_CIFAR10, TENAS_IMAGENET, DartsCell, MixedEdge
from tests import testing_utils

_SKIP, _SEP3, _DIL3, _AVG, _MAX = (DARTS_OPS.index(op) for op in (
    "skip_connect", "sep_conv_3x3", "dil_conv_3x3", "avg_pool_3x3", "max_pool_3x3"))
_NTK_INPUT = (8, 8, 3)  # small images: the networks' structure, not their size, is under test


def _alive(*columns):
  alive = np.zeros(len(DARTS_OPS), np.float32)
  alive[list(columns)] = 1.0
  return tf.constant(alive)


def _random(shape, seed):
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _mid_search_mask():
  """Random ops alive per edge (as during the op rounds), one edge of each cell type empty."""
  rng = np.random.default_rng(7)
  mask = darts.initial_mask() & (rng.random((2, 14, 8)) < 0.3)
  mask[:, 3] = False
  return mask


def _initial_without(cell, edge, column):
  mask = darts.initial_mask()
  mask[cell, edge, column] = False
  return mask


# A genotype (12 of 28 edges dead) and a mask as during the op rounds.
_MASKS = (
    ("genotype_cifar10", TENAS_CIFAR10.alive_mask),
    ("mid_search_with_empty_edges", _mid_search_mask),
)


class MixedEdgeTest(parameterized.TestCase, tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.x = _random((2, 5, 5, 2), 0)
    cls.edges = {stride: MixedEdge(2, stride, "darts", name=f"edge_{stride}")
                 for stride in (1, 2)}
    for edge in cls.edges.values():
      edge(cls.x, _alive(*range(8)), training=False)

  def _call(self, stride, *columns, skip=False):
    edge = self.edges[stride]
    edge.skip_dead_ops = skip
    try:
      return edge(self.x, _alive(*columns), training=False).numpy()
    finally:
      edge.skip_dead_ops = False

  def test_single_skip_is_identity_then_factorized_reduce(self):
    self.assertAllClose(self._call(1, _SKIP), self.x)
    reduce = self.edges[2].op_layers[_SKIP]
    self.assertIsInstance(reduce, darts_ops.FactorizedReduce)
    self.assertAllClose(self._call(2, _SKIP), reduce(self.x, training=False))

  @parameterized.parameters(1, 2)
  def test_output_is_mean_of_alive_ops(self, stride):
    pool = self.edges[stride].op_layers[_MAX](self.x).numpy()
    conv = self.edges[stride].op_layers[_DIL3](self.x, training=False).numpy()
    expected = (pool + conv) / 2.0
    self.assertAllClose(self._call(stride, _MAX, _DIL3), expected,
                        **testing_utils.tolerance(np.float32))
    self.assertAllClose(self._call(stride, _MAX, _DIL3, skip=True), expected,
                        **testing_utils.tolerance(np.float32))

  @parameterized.product(stride=(1, 2), skip=(False, True))
  def test_no_alive_op_gives_zeros_of_the_output_shape(self, stride, skip):
    side = 5 if stride == 1 else 3
    self.assertAllEqual(self._call(stride, skip=skip), np.zeros((2, side, side, 2)))

  def test_edge_without_built_ops_outputs_strided_zeros(self):
    edge = MixedEdge(2, 2, "darts", built_ops=[])
    self.assertAllEqual(edge(self.x, _alive(), training=True), np.zeros((2, 3, 3, 2)))

  def test_unknown_built_op_is_rejected(self):
    with self.assertRaisesRegex(ValueError, r"op must be one of \('none'.*got 'conv_3x3'"):
      MixedEdge(2, space="darts", built_ops=["conv_3x3"])
    with self.assertRaisesRegex(ValueError, r"strides must be one of \(1, 2\); got 3"):
      MixedEdge(2, 3, "darts")


class DartsCellTest(tf.test.TestCase):

  def test_all_skip_normal_cell_closed_form(self):
    # With s = p0 + p1: node0 = s, node1 = s + node0 = 2s, node2 = 4s, node3 = 8s.
    cell = DartsCell(2)
    s0, s1 = _random((2, 4, 4, 3), 1), _random((2, 4, 4, 5), 2)
    alive = np.zeros((14, 8), np.float32)
    alive[:, _SKIP] = 1.0
    out = cell([s0, s1], tf.constant(alive), training=True).numpy()
    total = (cell.preprocess0(s0, training=True) + cell.preprocess1(s1, training=True)).numpy()
    self.assertAllClose(out, np.concatenate([total, 2 * total, 4 * total, 8 * total], axis=-1),
                        **testing_utils.tolerance(np.float32))

  def test_reduction_cell_shapes(self):
    # After a reduction, s0 is twice s1's size: preprocess0 is then a FactorizedReduce.
    cell = DartsCell(4, reduction=True, reduction_prev=True)
    s0, s1 = _random((2, 14, 14, 3), 3), _random((2, 7, 7, 6), 4)
    out = cell([s0, s1], tf.constant(darts.initial_mask()[1].astype(np.float32)), training=True)
    self.assertEqual(tuple(out.shape), (2, 4, 4, 16))
    self.assertEqual(tuple(cell.compute_output_shape([s0.shape, s1.shape])), (2, 4, 4, 16))
    self.assertIsInstance(cell.preprocess0, darts_ops.FactorizedReduce)
    strides = [edge.strides for edge in cell.edges]
    self.assertEqual(strides, [2 if state < 2 else 1 for _, state in darts.EDGES])

  def test_built_ops_must_list_14_edges(self):
    with self.assertRaisesRegex(ValueError, "14 edges; got 13"):
      DartsCell(2, built_ops=[["skip_connect"]] * 13)


def _parameters(variables):
  return sum(int(np.prod(v.shape)) for v in variables)


class SetAliveTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.pruned = darts_supernet.linear_region_network(
        10, built_ops=darts.built_ops_of(TENAS_CIFAR10.alive_mask()))

  def test_wrong_shape_is_rejected_naming_it(self):
    with self.assertRaisesRegex(ValueError, r"\(2, 14, 8\)"):
      self.pruned.set_alive(np.ones((14, 8), bool))

  def test_unbuilt_op_cannot_be_alive(self):
    with self.assertRaisesRegex(ValueError, "did not build"):
      self.pruned.set_alive(darts.initial_mask())

  def test_built_mask_is_the_default_alive_mask(self):
    self.assertAllEqual(self.pruned.alive, TENAS_CIFAR10.alive_mask().astype(np.float32))

  def test_bad_network_arguments(self):
    with self.assertRaisesRegex(ValueError, "cells must be a non-empty sequence"):
      darts_supernet.DartsSearchNetwork(1, 10, cells=("normal", "reduction"))
    with self.assertRaisesRegex(ValueError, "num_classes"):
      darts_supernet.DartsSearchNetwork(1, 0)
    with self.assertRaisesRegex(ValueError, "one list of edges per cell type"):
      darts_supernet.DartsSearchNetwork(1, 10, built_ops=[[["skip_connect"]] * 14])


class NtkSupernetTest(parameterized.TestCase, tf.test.TestCase):
  """The NTK supernet: the reference's parameter counts, and the masked supernet against the
  network in which the dead ops are physically absent (same logits and NTK Gram matrix)."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.supernet = darts_supernet.ntk_network(10, input_shape=_NTK_INPUT, seed=0)
    cls.images = tf.random.stateless_normal((3,) + _NTK_INPUT, seed=(0, 1))

  def test_parameter_counts(self):
    # Measured on the authors' code (shared/data/reference/README.md, DARTS space).
    self.assertEqual(_parameters(self.supernet.trainable_variables), 5431)  # 5,655 - 224 alphas
    self.assertEqual(_parameters(indicators.ntk_variables(self.supernet)), 5138)

  @parameterized.named_parameters(*_MASKS)
  def test_equivalence(self, make_mask):
    mask = make_mask()
    self.supernet.set_alive(mask)
    pruned = testing_utils.pruned_copy(self, self.supernet, darts_supernet.ntk_network, mask,
                                       darts.built_ops_of, input_shape=_NTK_INPUT)
    self.assertAllClose(pruned(self.images, training=True),
                        self.supernet(self.images, training=True),
                        **testing_utils.tolerance(np.float32))
    # Tracing the supernet's vectorised Jacobian takes minutes on a CPU; the per-sample loop
    # is the oracle (jacobian == loop is tested on a smaller DARTS net below).
    gram = indicators.ntk_gram(self.supernet, self.images, method="loop")
    pruned_gram = indicators.ntk_gram(pruned, self.images, method="loop")
    self.assertAllClose(pruned_gram, gram, **testing_utils.tolerance(np.float32))
    self.assertGreater(np.min(np.diag(gram)), 0.0)

  def test_dead_op_is_not_run(self):
    self.supernet.set_alive(_initial_without(1, 9, _SEP3))  # reduce edge 3<-0 loses sep_conv_3x3
    edge = self.supernet.cell_layers[1].edges[9]
    op = edge.op_layers[edge.built_ops.index("sep_conv_3x3")]
    with tf.GradientTape() as tape:
      logits = self.supernet(self.images, training=True)
    gradients = tape.gradient(logits, op.trainable_variables + [self.supernet.stem_conv.kernel])
    self.assertLen(gradients, 9)  # per block: depthwise, pointwise, BN gamma and beta
    self.assertEqual(gradients[:-1], [None] * 8)  # no gradient at all: the op never ran
    self.assertIsNotNone(gradients[-1])


class ThinSupernetTest(parameterized.TestCase, tf.test.TestCase):
  """The linear-region supernet: parameter counts, and the masked supernet against the physically
  pruned network (same sign patterns up to constant columns, same number of regions)."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.supernet = darts_supernet.linear_region_network(10, seed=0)
    cls.samples = tf.random.stateless_normal((1000, 3, 3, 1), seed=(2, 3))

  def test_parameter_counts(self):
    # The reference's 5,637 include 224 alphas and an unused stem (conv 9, BN 2).
    self.assertEqual(_parameters(self.supernet.trainable_variables), 5637 - 224 - 11)
    self.assertEqual(_parameters(indicators.ntk_variables(self.supernet)), 5110)

  @parameterized.named_parameters(*_MASKS)
  def test_equivalence(self, make_mask):
    mask = make_mask()
    self.supernet.set_alive(mask)
    pruned = testing_utils.pruned_copy(self, self.supernet, darts_supernet.linear_region_network,
                                       mask, darts.built_ops_of)
    masked = testing_utils.drop_constant_columns(
        indicators.relu_sign_patterns(self.supernet, self.samples))
    physical = indicators.relu_sign_patterns(pruned, self.samples)
    self.assertAllEqual(masked, testing_utils.drop_constant_columns(physical))
    regions = indicators.num_linear_regions(pruned, self.samples)
    self.assertEqual(indicators.num_linear_regions(self.supernet, self.samples), regions)
    self.assertEqual(regions, len({tuple(row) for row in physical.tolist()}))


class JacobianTest(tf.test.TestCase):

  def test_jacobian_equals_loop_with_skipped_and_strided_ops(self):
    # A one-cell reduction network with a few ops per edge: dead ops skipped under tf.cond,
    # strided dead branches (also of a FactorizedReduce), an empty edge.
    built = [[["skip_connect", "max_pool_3x3"] for _ in range(14)] for _ in range(2)]
    built[1][0] = built[1][4] = ["skip_connect", "dil_conv_3x3", "max_pool_3x3"]
    net = darts_supernet.DartsSearchNetwork(1, 4, cells=("reduce",), built_ops=built,
                                            skip_dead_ops=True, name="net")
    images = tf.random.stateless_normal((4,) + _NTK_INPUT, seed=(4, 5))
    net(images)
    mask = net.buildable_mask.copy()
    mask[1, 0, _SKIP] = mask[1, 4, _DIL3] = mask[1, 1, _MAX] = False
    mask[1, 6] = False
    net.set_alive(mask)
    self.assertAllClose(indicators.ntk_gram(net, images, method="jacobian"),
                        indicators.ntk_gram(net, images, method="loop"),
                        **testing_utils.tolerance(np.float32))


class SupernetConfigTest(parameterized.TestCase, tf.test.TestCase):

  def test_mixed_edge(self):
    edge = MixedEdge(2, 2, "darts", built_ops=["skip_connect", "sep_conv_3x3"],
                     init="kaiming_normal", name="edge")
    alive = _alive(_SKIP, _SEP3)
    testing_utils.assert_clones_match(self, edge, _random((2, 5, 5, 2), 5),
                                      lambda layer, v: layer(v, alive, training=True))

  def test_search_cell(self):
    built = darts.built_ops_of(TENAS_IMAGENET.alive_mask())[1]
    cell = DartsCell(2, reduction=True, built_ops=built, name="cell")
    alive = tf.constant(TENAS_IMAGENET.alive_mask()[1].astype(np.float32))
    testing_utils.assert_clones_match(self, cell,
                                      [_random((2, 6, 6, 3), 6), _random((2, 6, 6, 3), 7)],
                                      lambda layer, v: layer(v, alive, training=True))

  def test_search_network(self):
    built = darts.built_ops_of(TENAS_CIFAR10.alive_mask())
    net = darts_supernet.DartsSearchNetwork(
        2, 5, cells=("reduce", "normal"), stem_multiplier=3, built_ops=built,
        init="kaiming_normal", name="net")
    testing_utils.assert_clones_match(self, net, _random((2, 8, 8, 3), 8),
                                      lambda layer, v: layer(v, training=True))
    config = net.get_config()
    self.assertEqual((config["cells"], config["stem_multiplier"], config["built_ops"]),
                     (["reduce", "normal"], 3, built))
    self.assertIsInstance(net.cell_layers[1].preprocess0, darts_ops.FactorizedReduce)


if __name__ == "__main__":
  tf.test.main()
