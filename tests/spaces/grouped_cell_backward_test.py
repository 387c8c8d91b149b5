"""The NB201 cell's grouped backward against TensorFlow's own gradients of the same cell.

`grouped_cell_backward` shares passes between the ops of a cell, folds each BN into its conv and
the edge means into the kernels; the oracle is the cell's `call` differentiated by TensorFlow
(`spaces.tensorflow_gradients()`: plain TensorFlow ops and gradients), one cotangent at a time.
Masks cover every op alive, single ops, an edge of `none` only, and a node no live op reaches.
"""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from tenas_tf import spaces
from tenas_tf.spaces import batched_backward
from tests import testing_utils

_OPS = spaces.NB201_OPS
_INPUTS = tf.random.stateless_normal((4, 6, 6, 2), seed=(1, 2))
_COTANGENTS = tf.random.stateless_normal((3, 4, 6, 6, 2), seed=(3, 4))


def _mask(live):
  """[6, 5] alive bits from {edge: ops}."""
  mask = np.zeros((6, len(_OPS)), bool)
  for edge, ops in live.items():
    for op in ops:
      mask[edge, _OPS.index(op)] = True
  return mask


_EVERY_OP = {edge: _OPS for edge in range(6)}
_MASKS = {
    "every_op": _mask(_EVERY_OP),
    "one_removed": _mask({**_EVERY_OP, 3: ("none", "skip_connect", "nor_conv_1x1",
                                           "avg_pool_3x3")}),
    "single_path": _mask({edge: ("nor_conv_3x3",) for edge in range(6)}),
    "mixed": _mask({0: ("nor_conv_1x1", "avg_pool_3x3"), 1: ("none",),
                    2: ("skip_connect", "nor_conv_3x3"), 3: ("avg_pool_3x3",),
                    4: ("nor_conv_1x1",), 5: ("nor_conv_3x3", "nor_conv_1x1", "none")}),
    # Nothing reaches node 2 (edges 0->2 and 1->2 dead), yet 2->3 has a conv on its zeros.
    "dead_node": _mask({0: ("nor_conv_3x3",), 1: (), 2: ("none",), 3: ("skip_connect",),
                        4: ("avg_pool_3x3", "nor_conv_1x1"), 5: ("nor_conv_3x3",)}),
}


def _cell():
  cell = spaces.NB201Cell(2, skip_dead_ops=True)
  cell(_INPUTS)
  spaces.initialize(cell, 7)
  rng = np.random.default_rng(7)
  for variable in cell.trainable_variables:  # BN affine parameters away from (1, 0)
    if variable.path.endswith(("gamma", "beta")):
      low = 0.5 if variable.path.endswith("gamma") else -0.5
      variable.assign(rng.uniform(low, low + 1.0, variable.shape).astype(np.float32))
  return cell


def _oracle(cell, mask, variables):
  """Per cotangent: the input's gradient and each variable's, by TensorFlow."""
  inputs, rows = [], [[] for _ in variables]
  alive = tf.constant(mask, tf.float32)
  with spaces.tensorflow_gradients():
    for cotangent in _COTANGENTS:
      with tf.GradientTape() as tape:
        tape.watch(_INPUTS)
        total = tf.reduce_sum(cell(_INPUTS, alive, training=True) * cotangent)
      gradients = tape.gradient(total, [_INPUTS] + variables)
      inputs.append(gradients[0].numpy())
      for row, gradient, variable in zip(rows, gradients[1:], variables):
        row.append(np.zeros(variable.shape.num_elements(), np.float32) if gradient is None
                   else tf.reshape(gradient, [-1]).numpy())
  return np.stack(inputs), [np.stack(row) for row in rows]


def _scaled_tolerance(expected):
  """float32 round-off of sums whose terms are as large as the largest entry: BN's correction
  nearly cancels the direct term in some entries, so an entry far below the largest one carries
  the largest one's absolute error (a wrong gradient is off by the size of the entries)."""
  return dict(rtol=1e-4, atol=2e-6 * max(float(np.max(np.abs(expected))), 1.0))


class GroupedCellBackwardTest(tf.test.TestCase, parameterized.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.cell = _cell()
    cls.variables = [v for v in cls.cell.trainable_variables
                     if v.path.endswith(("kernel", "gamma"))]

  @parameterized.named_parameters(*_MASKS.items())
  def test_equals_tensorflows_gradients(self, mask):
    rows = batched_backward.Rows()
    outputs, backward = self.cell.jacobian_forward(_INPUTS, rows, mask)
    inputs = backward(_COTANGENTS)
    expected_inputs, expected_rows = _oracle(self.cell, mask, self.variables)
    self.assertAllClose(outputs, self.cell(_INPUTS, tf.constant(mask, tf.float32),
                                           training=True), **testing_utils.tolerance(np.float32))
    self.assertAllClose(inputs, expected_inputs, **_scaled_tolerance(expected_inputs))
    for variable, ours, oracle in zip(self.variables, rows.stacked(self.variables, 3),
                                      expected_rows):
      self.assertAllClose(ours, oracle, msg=variable.path, **_scaled_tolerance(oracle))

  def test_a_cell_without_live_ops_passes_nothing_back(self):
    mask = _mask({})
    outputs, backward = self.cell.jacobian_forward(_INPUTS, batched_backward.Rows(), mask)
    self.assertAllEqual(outputs, tf.zeros_like(_INPUTS))
    self.assertAllEqual(backward(_COTANGENTS), tf.zeros_like(_COTANGENTS))


if __name__ == "__main__":
  tf.test.main()
