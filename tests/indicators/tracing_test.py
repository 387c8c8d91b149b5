"""The indicators trace their graphs at most once per process, not once per candidate of a search.

A pruning round scores dozens of candidates (hundreds in DARTS) on one supernet whose alive-mask
variable changes between them; tracing costs seconds (#LR) to minutes (a pfor NTK Jacobian), so a
retrace per candidate would dominate a search. The count is taken on the Python side: the
networks' `call` runs only while a traced indicator function is being traced, so a counter in it
counts the traces. The NB201 NTK runs the network's batched backward (`spaces.batched_backward`),
which never calls `call` (its count stays 0): one traced Jacobian for every mask, and the steps
inside it, traced by the first candidate only (`batched_backward.tracing_count`).
"""

import tensorflow as tf

from tenas_tf import data as data_lib
from tenas_tf.search import prune
from tenas_tf.spaces import batched_backward
from tenas_tf.spaces import registry
from tests import testing_utils

# Three ops per edge: 18 candidates in round 0, 12 in round 1; cheap ops trace in seconds.
_OPS = ("skip_connect", "nor_conv_1x1", "avg_pool_3x3")
_INFO = data_lib.dataset_info("synthetic")


def _count_calls(test, network, counts, name):
  """Makes `network.call` add 1 to `counts[name]` each time its Python body runs."""
  def call(*args, _original=network.call, **kwargs):
    counts[name] += 1
    return _original(*args, **kwargs)

  object.__setattr__(network, "call", call)
  test.addCleanup(object.__delattr__, network, "call")


class PruneRoundTracingTest(tf.test.TestCase):

  def test_rounds_trace_each_indicator_once(self):
    base = registry.get_space("nb201")
    space = testing_utils.reduced_space(base, testing_utils.only_ops(base, _OPS))
    ntk_net = space.ntk_network(10, (32, 32, 3), "pytorch_default")
    lr_net = space.linear_region_network(10, "pytorch_default")
    counts = {"ntk": 0, "lr": 0}
    _count_calls(self, ntk_net, counts, "ntk")
    _count_calls(self, lr_net, counts, "lr")

    images = data_lib.synthetic_images(32, 32, seed=1)
    # The reference batch mode: every candidate gets fresh batches (new tensors, same shapes).
    settings = prune.PruneSettings(repeats=1, lr_batches_per_count=2, seed=0)
    indicators_for_round = prune.te_nas_indicators(
        ntk_net, lr_net, lambda seed: iter(data_lib.ntk_batches(images, _INFO, 4, seed)),
        lambda seed: iter(data_lib.linear_region_batches(images, _INFO, 20, seed)), settings)

    after_candidate = []
    mask = space.initial_mask()
    for round_index in range(2):
      mask, record = prune.prune_round(
          mask, round_index, space, indicators_for_round, settings,
          progress=lambda done, total: after_candidate.append(
              {**counts, "steps": batched_backward.tracing_count()}))
      self.assertNotEmpty(record["scores"])

    self.assertLen(after_candidate, 18 + 12)
    # #LR and the batched backward's steps traced by the first candidate (its origin's measure),
    # never again: not after 2 candidates, not after 8, not in the next round with another mask;
    # the NTK network never.
    steps = after_candidate[0]["steps"]
    self.assertGreater(steps, 0)
    for index in (1, 7, 17, len(after_candidate) - 1):
      self.assertEqual(after_candidate[index], {"ntk": 0, "lr": 1, "steps": steps},
                       msg=f"candidate {index}")


if __name__ == "__main__":
  tf.test.main()
