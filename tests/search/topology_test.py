"""The DARTS topology step: its rules on masks, and its rounds on small real DARTS networks."""

import numpy as np
import tensorflow as tf

from tenas_tf.search import prune
from tenas_tf.search import topology
from tenas_tf.spaces import darts
from tenas_tf.spaces import registry

SPACE = registry.get_space("darts")
_OPS = darts.DARTS_OPS


def _single_path_mask():
  """One op per edge (as after the op rounds): parameter-free ops and a few convs, so that the
  networks are quick to build and trace."""
  rng = np.random.default_rng(3)
  choices = [_OPS.index(op) for op in ("skip_connect", "avg_pool_3x3", "max_pool_3x3")]
  mask = np.zeros((2, 14, 8), bool)
  for cell in range(2):
    for edge in range(14):
      mask[cell, edge, rng.choice(choices)] = True
  mask[0, 7] = mask[1, 12] = False
  mask[0, 7, _OPS.index("dil_conv_3x3")] = mask[1, 12, _OPS.index("sep_conv_3x3")] = True
  return mask


def _streams():
  def ntk_batches(seed):
    return iter(tf.random.stateless_normal((4, 8, 8, 3), seed=(seed % 2**31, i))
                for i in range(100))

  def lr_batches(seed):
    return iter(tf.random.stateless_normal((60, 3, 3, 1), seed=(seed % 2**31, i))
                for i in range(100))
  return ntk_batches, lr_batches


class TopologyRulesTest(tf.test.TestCase):

  def test_pending_nodes_are_those_with_more_than_two_live_inputs(self):
    mask = _single_path_mask()
    self.assertEqual(topology.pending_nodes(mask, darts.NODE_EDGES),
                     [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3)])
    mask[1, 5:7] = False  # reduce node 2 keeps 2 of its 4 inputs
    mask[0, 2] = False  # normal node 1 keeps 2 of its 3
    self.assertEqual(topology.pending_nodes(mask, darts.NODE_EDGES),
                     [(0, 2), (0, 3), (1, 1), (1, 3)])

  def test_node_candidates_are_the_single_ops_of_live_edges(self):
    mask = _single_path_mask()
    mask[0, 10] = False
    candidates = topology.node_candidates(mask, 0, 3, darts.NODE_EDGES)
    self.assertEqual([edge for _, edge, _ in candidates], [9, 11, 12, 13])
    self.assertEqual([op for _, _, op in candidates],
                     [int(np.argmax(mask[0, edge])) for edge in (9, 11, 12, 13)])

  def test_node_candidates_need_single_op_edges(self):
    mask = _single_path_mask()
    mask[1, 3, :] = darts.initial_mask()[1, 3]
    with self.assertRaisesRegex(ValueError, "one alive op per edge; cell 1 edge 3 .* has 7"):
      topology.node_candidates(mask, 1, 1, darts.NODE_EDGES)

  def test_all_but_the_last_two_in_prune_order_are_pruned(self):
    self.assertEqual(topology.edges_to_prune([4, 0, 2, 1, 3]), [4, 0, 2])
    self.assertEqual(topology.edges_to_prune([1, 0]), [])


class TopologyRoundsTest(tf.test.TestCase):

  def _search(self, ntk_net, lr_net, mask, finished_rounds=()):
    ntk_batches, lr_batches = _streams()
    settings = prune.PruneSettings(repeats=1, lr_batches_per_count=1, seed=4)
    return prune.run_search(
        SPACE, prune.te_nas_indicators(ntk_net, lr_net, ntk_batches, lr_batches, settings),
        settings, finished_rounds=finished_rounds, mask=mask)

  def test_topology_step_on_small_darts_networks(self):
    # One test method: a test runner that spreads a class's methods over processes would repeat
    # a shared setup (networks, traces, the search).
    mask = _single_path_mask()
    built = SPACE.built_ops_of(mask)
    ntk_net = SPACE.ntk_network(10, (8, 8, 3), "pytorch_default", built_ops=built)
    lr_net = SPACE.linear_region_network(10, "pytorch_default", built_ops=built)
    final, records = self._search(ntk_net, lr_net, mask)

    with self.subTest("every node keeps exactly 2 inputs with their ops; node 0 untouched"):
      for cell in range(2):
        for node, (start, end) in enumerate(darts.NODE_EDGES):
          live = [edge for edge in range(start, end) if final[cell, edge].any()]
          self.assertLen(live, 2, f"cell {cell} node {node}")
          for edge in live:
            self.assertAllEqual(final[cell, edge], mask[cell, edge])
      self.assertAllEqual(final[:, 0:2], mask[:, 0:2])
      darts.DartsGenotype.from_mask(final)  # a valid genotype

    with self.subTest("one topology round per node with more than 2 inputs"):
      self.assertEqual([(r["kind"], r["cell"], r["node"]) for r in records],
                       [("topology", cell, node) for cell in ("normal", "reduce")
                        for node in (1, 2, 3)])
      self.assertEqual([len(r["scores"]) for r in records], [3, 4, 5] * 2)
      self.assertEqual([len(r["pruned"]) for r in records], [1, 2, 3] * 2)
      self.assertEqual([r["round"] for r in records], list(range(6)))

    with self.subTest("the kept edges have the highest rank sums"):
      for record in records:
        pruned = {p["edge"] for p in record["pruned"]}
        sums = {rank["edge"]: rank["sum"] for rank in record["ranks"]}
        kept = set(sums) - pruned
        self.assertLen(kept, 2)
        self.assertGreaterEqual(min(sums[e] for e in kept), max(sums[e] for e in pruned))

    with self.subTest("a resumed search continues after the finished nodes"):
      resumed, resumed_records = self._search(ntk_net, lr_net, mask,
                                              finished_rounds=records[:2])
      self.assertAllEqual(resumed, final)
      strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]
      self.assertEqual(strip(resumed_records), strip(records))

  def test_only_darts_prunes_topology(self):
    self.assertFalse(registry.get_space("nb201").prunes_topology)
    self.assertTrue(SPACE.prunes_topology)


if __name__ == "__main__":
  tf.test.main()
