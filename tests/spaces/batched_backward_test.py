"""The search networks' batched-backward Jacobian: chunking changes nothing, and it is the Jacobian.

`SearchNetwork.logit_sum_jacobian` sends the n cotangents through the backward in chunks of
`chunk_size`; every chunking must give the same rows, and those rows must be the per-sample
gradients that TensorFlow's own autodiff gives, one backward pass per sample, with the layers on
plain TensorFlow ops (`spaces.tensorflow_gradients()`): an oracle that shares no code with it.
"""

import gc
import weakref

from absl.testing import parameterized
import numpy as np
import tensorflow as tf
from tensorflow.python.eager import context  # the configuration functions are cached under

from tenas_tf import indicators
from tenas_tf import spaces
from tenas_tf.spaces import batched_backward
from tenas_tf.spaces import registry
from tenas_tf.spaces import supernet
from tests import testing_utils

_IMAGES = tf.random.stateless_normal((5, 8, 8, 3), seed=(5, 6))
# A conv + BN net: stem, one cell of 3x3 and 1x1 convs (one dead), a ResNet block, head.
_BUILT = (("nor_conv_3x3", "nor_conv_1x1"),) * 6


def _net(channels=2):
  net = spaces.NB201SearchNetwork(channels, 1, 3, max_layers=2, built_ops=_BUILT,
                                  skip_dead_ops=True)
  net(_IMAGES)
  spaces.initialize(net, 3)
  mask = net.buildable_mask.copy()
  mask[0, 4, spaces.NB201_OPS.index("nor_conv_1x1")] = False
  net.set_alive(mask)
  return net


def _per_sample_gradients(net, variables):
  """[n, size] per variable: sample i's logit sum differentiated by TensorFlow, sample by sample,
  BatchNorm on the whole batch's statistics."""
  with spaces.tensorflow_gradients():
    rows = [[] for _ in variables]
    for i in range(int(_IMAGES.shape[0])):
      with tf.GradientTape() as tape:
        total = tf.reduce_sum(net(_IMAGES, training=True)[i])
      for row, gradient, variable in zip(rows, tape.gradient(total, variables), variables):
        row.append(np.zeros(variable.shape.num_elements(), np.float32) if gradient is None
                   else tf.reshape(gradient, [-1]).numpy())
  return [np.stack(row) for row in rows]


class LogitSumJacobianTest(tf.test.TestCase, parameterized.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.net = _net()
    cls.variables = indicators.ntk_variables(cls.net)
    cls.oracle = _per_sample_gradients(cls.net, cls.variables)

  @parameterized.parameters(1, 2, 3, 5, 8)
  def test_every_chunking_gives_the_per_sample_gradients(self, chunk_size):
    rows = self.net.logit_sum_jacobian(_IMAGES, self.variables, chunk_size=chunk_size)
    self.assertLen(rows, len(self.variables))
    for variable, ours, oracle in zip(self.variables, rows, self.oracle):
      self.assertAllClose(ours, oracle, msg=variable.path, **testing_utils.tolerance(np.float32))

  def test_rows_do_not_depend_on_what_the_process_ran_before(self):
    # The traced steps are shared by every network of a process. A step relaxed to unknown
    # shapes by earlier calls (a wider net: other kernel shapes; other chunk sizes) computes
    # differently from the static trace that a fresh process (a Ray worker) makes: the rows of
    # the same net and chunking must keep their bits whatever ran in between.
    variables = indicators.ntk_variables(self.net)
    first = self.net.logit_sum_jacobian(_IMAGES, variables, chunk_size=5)
    wider = _net(channels=4)
    for chunk_size in (2, 3):
      wider.logit_sum_jacobian(_IMAGES, indicators.ntk_variables(wider), chunk_size=chunk_size)
      self.net.logit_sum_jacobian(_IMAGES, variables, chunk_size=chunk_size)
    again = self.net.logit_sum_jacobian(_IMAGES, variables, chunk_size=5)
    for variable, want, got in zip(variables, first, again):
      self.assertAllEqual(got, want, msg=variable.path)

  def test_the_traced_rows_keep_their_bits_from_call_to_call_and_mask_to_mask(self):
    # The NB201 net's Jacobian is one traced graph for every mask, read from the mask variable;
    # its bits must not depend on the run (the order of additions in the graph) nor on the masks
    # scored before, and they are the eager run's of the same forward.
    original = self.net.alive.numpy()
    self.addCleanup(self.net.set_alive, original)
    other = self.net.buildable_mask.copy()
    other[0, :, spaces.NB201_OPS.index("nor_conv_3x3")] = False
    first = self.net.logit_sum_jacobian(_IMAGES, self.variables)
    self.net.set_alive(other)
    changed = self.net.logit_sum_jacobian(_IMAGES, self.variables)
    self.net.set_alive(original)
    again = self.net.logit_sum_jacobian(_IMAGES, self.variables)
    eager = batched_backward.logit_sum_jacobian(self.net.jacobian_forward, _IMAGES,
                                                self.variables, supernet.JACOBIAN_CHUNK)
    self.assertNotAllClose(changed[0], first[0])
    for variable, want, got, eager_rows in zip(self.variables, first, again, eager):
      self.assertAllEqual(got, want, msg=variable.path)
      self.assertAllClose(eager_rows, want, msg=variable.path,
                          **testing_utils.tolerance(np.float32))

  def test_the_traced_jacobian_leaves_the_optimizer_options_as_they_were(self):
    # It runs with Grappler's arithmetic optimizer off (`batched_backward.sum_in_order`).
    self.addCleanup(tf.config.optimizer.set_experimental_options,
                    {"arithmetic_optimization": None})
    for setting in (None, True, False):
      tf.config.optimizer.set_experimental_options({"arithmetic_optimization": setting})
      self.net.logit_sum_jacobian(_IMAGES, self.variables)
      self.assertEqual(
          tf.config.optimizer.get_experimental_options().get("arithmetic_optimization"), setting)

  @parameterized.parameters((batched_backward.WITHOUT_ARITHMETIC_OPTIMIZER,),
                            (batched_backward.WITHOUT_GRAPPLER,))
  def test_the_traced_jacobian_leaves_the_function_configuration_as_it_was(self, options):
    # The configuration every other function is called (and cached) with: a different one after
    # a kappa made the DARTS #LR function optimized and instantiated again (seconds).
    def forward(images, rows):
      del rows
      return images[:, 0, 0, :2], lambda cotangents: None
    before = context.context().config.SerializeToString(deterministic=True)
    batched_backward.traced_jacobian(forward, [], 2, options)(_IMAGES)
    self.assertEqual(context.context().config.SerializeToString(deterministic=True), before)

  def test_a_networks_traced_jacobian_dies_with_it(self):
    # The module keeps its traced functions for `tracing_count`; a network's must not keep the
    # network alive (a process scoring many networks would hold every one of them).
    net = _net()
    net.logit_sum_jacobian(_IMAGES, indicators.ntk_variables(net))
    alive = weakref.ref(net)
    del net
    gc.collect()
    self.assertIsNone(alive())

  def test_the_dead_op_has_zero_rows_and_the_live_ones_do_not(self):
    rows = dict(zip((v.path for v in self.variables),
                    self.net.logit_sum_jacobian(_IMAGES, self.variables)))
    dead = [path for path in rows if "edge_1_to_3/nor_conv_1x1/" in path]
    live = [path for path in rows if "edge_1_to_3/nor_conv_3x3/" in path]
    self.assertNotEmpty(dead)
    self.assertNotEmpty(live)
    for path in dead:
      self.assertAllEqual(rows[path], np.zeros_like(rows[path]), msg=path)
    for path in live:
      self.assertGreater(np.max(np.abs(rows[path])), 0.0, msg=path)


class PaperSizeDeterminismTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(("nb201", 72), ("darts", 14))
  def test_the_ntk_nets_rows_keep_their_bits(self, space, batch_size):
    # At the paper's sizes (every op alive) the traced graph runs hundreds of ops side by side;
    # with Grappler's arithmetic optimizer the order of some additions followed the run's timing
    # and the NB201 rows changed from call to call.
    net = registry.get_space(space).ntk_network(10, (32, 32, 3), "pytorch_default")
    images = tf.random.stateless_normal((batch_size, 32, 32, 3), seed=(7, 8))
    spaces.initialize(net, 0)
    variables = indicators.ntk_variables(net)
    first = net.logit_sum_jacobian(images, variables)
    for call in range(3):
      rows = net.logit_sum_jacobian(images, variables)
      for variable, want, got in zip(variables, first, rows):
        self.assertAllEqual(got, want, msg=f"call {call + 2}: {variable.path}")


if __name__ == "__main__":
  tf.test.main()
