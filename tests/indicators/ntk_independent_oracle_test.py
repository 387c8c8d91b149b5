"""The NTK of the search spaces' supernets against an oracle that shares no gradient code with it.

The search networks' `ntk_gram(method="jacobian")` runs their hand-written batched backward
(`spaces.batched_backward`); `method="pfor"` differentiates through the
hand-written, pfor-friendly gradients of `tenas_tf.spaces` (`pfor_gradients`, `depthwise`). Here
the oracle is the per-sample loop run inside `spaces.tensorflow_gradients()`, where the layers
use plain TensorFlow / Keras ops and TensorFlow's own gradients. The nets are cut-down NTK
supernets (8x8 images, few ops, some dead and skipped), small enough to trace the vectorised
Jacobian in seconds.
"""

from unittest import mock

import numpy as np
import tensorflow as tf

from tenas_tf import indicators
from tenas_tf import spaces
from tenas_tf.spaces import batched_backward
from tenas_tf.spaces import depthwise
from tenas_tf.spaces import gradients
from tenas_tf.spaces import pfor_gradients
from tests import testing_utils

_IMAGES = tf.random.stateless_normal((5, 8, 8, 3), seed=(3, 4))
_NB201 = spaces.NB201_OPS
_DARTS = spaces.DARTS_OPS
# The hand-written gradients the layers call: (module, function name).
_HAND_WRITTEN = ((pfor_gradients, "relu"), (pfor_gradients, "batch_norm_training"),
                 (pfor_gradients, "conv_batch_norm_training"),
                 (pfor_gradients, "avg_pool_3x3_same"), (depthwise, "_valid_depthwise"))


# Every NB201 op, at most two to an edge (an op skipped under `tf.cond` costs the vectorised
# Jacobian's tracing time), and the (edge, op) pairs dead in the mask; edge 5 has no live op.
_NB201_BUILT = (("nor_conv_3x3", "skip_connect"), ("nor_conv_1x1",),
                ("avg_pool_3x3", "nor_conv_3x3"), ("skip_connect",),
                ("nor_conv_1x1", "avg_pool_3x3"), ("nor_conv_3x3",))
_NB201_DEAD = ((0, "skip_connect"), (2, "nor_conv_3x3"), (5, "nor_conv_3x3"))
# Every DARTS op kind on a reduction cell's edges: 0-2 take the cell inputs at stride 2
# (`skip_connect` is then a `FactorizedReduce`), 4 an intermediate node at stride 1; the other
# edges are empty.
_DARTS_BUILT = {0: ("sep_conv_3x3", "skip_connect"), 1: ("dil_conv_3x3", "avg_pool_3x3"),
                2: ("max_pool_3x3",),
                4: ("sep_conv_3x3", "avg_pool_3x3", "dil_conv_3x3", "max_pool_3x3")}
_DARTS_DEAD = ((4, "sep_conv_3x3"),)


def _built(net, ops, dead, seed):
  """`net` built on `_IMAGES` and initialised, with BN affine parameters drawn away from (1, 0)
  (so that a gradient mishandling gamma or beta shows) and the (edge, op) pairs `dead` of its
  last cell type dead."""
  net(_IMAGES)
  spaces.initialize(net, seed)
  rng = np.random.default_rng(seed)
  for variable in net.trainable_variables:
    if variable.path.endswith(("gamma", "beta")):
      low = 0.5 if variable.path.endswith("gamma") else -0.5
      variable.assign(rng.uniform(low, low + 1.0, variable.shape).astype(np.float32))
  mask = net.buildable_mask.copy()
  for edge, op in dead:
    mask[-1, edge, ops.index(op)] = False
  net.set_alive(mask)
  return net


def _nb201_net(built_ops=_NB201_BUILT, dead=_NB201_DEAD, max_layers=2, name="nb201"):
  """NB201's NTK net (stem, a cell, a ResNet block, head) at C=2 with `built_ops`."""
  net = spaces.NB201SearchNetwork(2, 1, 3, max_layers=max_layers, built_ops=built_ops,
                                  skip_dead_ops=True, name=name)
  return _built(net, _NB201, dead, seed=0)


def _darts_net():
  """The DARTS NTK net's reduction cell alone (C=1, stem, head), with `_DARTS_BUILT`."""
  reduce_ops = [_DARTS_BUILT.get(edge, ()) for edge in range(14)]
  net = spaces.DartsSearchNetwork(1, 3, cells=("reduce",), built_ops=[[()] * 14, reduce_ops],
                                  skip_dead_ops=True, name="darts")
  return _built(net, _DARTS, _DARTS_DEAD, seed=1)


def _jacobian_and_oracle(net, method="jacobian"):
  """The NTK by `method` (hand-written gradients) and the per-sample loop under TensorFlow's.

  The loop runs eagerly, so the switch applies; the Jacobian's function is traced outside it.
  """
  jacobian = indicators.ntk_gram(net, _IMAGES, method=method)
  with spaces.tensorflow_gradients():
    oracle = indicators.ntk_gram(net, _IMAGES, method="loop")
  return jacobian, oracle


def _batch_norm_without_batch_coupling(x, gamma, beta, epsilon):
  """A classic BN gradient bug: the batch statistics differentiated as constants."""
  mean, variance = tf.nn.moments(x, [0, 1, 2])
  mean, variance = tf.stop_gradient(mean), tf.stop_gradient(variance)
  return tf.nn.batch_normalization(x, mean, variance, beta, gamma, epsilon), mean, variance


class IndependentOracleTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.nets = {"nb201": _nb201_net(), "darts": _darts_net()}

  def test_jacobian_equals_loop_of_tensorflows_gradients(self):
    for name, method in (("nb201", "jacobian"), ("nb201", "pfor"), ("darts", "jacobian"),
                         ("darts", "pfor")):
      with self.subTest(f"{name} {method}"):
        jacobian, oracle = _jacobian_and_oracle(self.nets[name], method)
        self.assertGreater(np.min(np.diag(oracle)), 0.0)
        self.assertAllClose(jacobian, oracle, **testing_utils.tolerance(np.float32))

  def test_oracle_calls_no_hand_written_gradient(self):
    # Each hand-written gradient runs in the nets' forward pass, and none inside the switch.
    mocks = {name: self.enter_context(mock.patch.object(module, name, wraps=getattr(module, name)))
             for module, name in _HAND_WRITTEN}
    for net in self.nets.values():
      with spaces.tensorflow_gradients():
        net(_IMAGES, training=True)
    for name, function in mocks.items():
      self.assertEqual(function.call_count, 0, name)
    for net in self.nets.values():
      net(_IMAGES, training=True)
    for name, function in mocks.items():
      self.assertGreater(function.call_count, 0, name)

  def test_switch_nests_and_restores(self):
    # A switch left on would make every later NTK test compare TensorFlow with itself.
    self.assertTrue(gradients.hand_written_gradients())
    with spaces.tensorflow_gradients():
      with spaces.tensorflow_gradients():
        self.assertFalse(gradients.hand_written_gradients())
      self.assertFalse(gradients.hand_written_gradients())
    self.assertTrue(gradients.hand_written_gradients())

  def test_a_wrong_gradient_is_caught(self):
    # The comparison above can fail: a BN gradient that ignores the batch coupling (that of the
    # stem's and the head's BN) changes the vectorised NTK, not the oracle. A cell of identities
    # traces fast.
    self.enter_context(mock.patch.object(pfor_gradients, "batch_norm_training",
                                         _batch_norm_without_batch_coupling))
    net = _nb201_net((("skip_connect",),) * 6, dead=(), max_layers=1, name="nb201_mutant")
    jacobian, oracle = _jacobian_and_oracle(net, "pfor")
    self.assertNotAllClose(jacobian, oracle, **testing_utils.tolerance(np.float32))

  def test_a_wrong_batched_backward_is_caught(self):
    # The same bug in the batched backward: BN's backward without its correction term (the
    # batch statistics' share of each cotangent) changes the NTK, not the oracle.
    original = batched_backward.BATCH_NORM

    def uncoupled_backward(settings, input_cotangents, cotangents, saved, weights):
      _, own_rows = original.backward(settings, input_cotangents, cotangents, saved, weights)
      return cotangents * saved[1], own_rows  # saved[1]: the scale; gamma's rows unchanged

    uncoupled_batch_norm = batched_backward.Kind("uncoupled", original.forward,
                                                 uncoupled_backward)
    net = _nb201_net((("skip_connect",),) * 6, dead=(), max_layers=1, name="nb201_mutant")
    jacobian, oracle = _jacobian_and_oracle(net)
    self.assertAllClose(jacobian, oracle, **testing_utils.tolerance(np.float32))
    # A second net of the same weights: the first one's traced Jacobian holds the true backward.
    twin = _nb201_net((("skip_connect",),) * 6, dead=(), max_layers=1, name="nb201_mutant")
    with mock.patch.object(batched_backward, "BATCH_NORM", uncoupled_batch_norm):
      mutant = indicators.ntk_gram(twin, _IMAGES)
    self.assertNotAllClose(mutant, oracle, **testing_utils.tolerance(np.float32))


if __name__ == "__main__":
  tf.test.main()
