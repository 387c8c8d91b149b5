"""The one scoring loop: keyed draws, injected indicators, and decisions computed by hand."""

import numpy as np
import tensorflow as tf

from tenas_tf import data as data_lib
from tenas_tf import spaces
from tenas_tf.search import prune
from tenas_tf.search import scoring
from tests import testing_utils

NB201 = spaces.get_space("nb201")
OPS = NB201.ops  # ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


class KeyedDrawsTest(tf.test.TestCase):

  def _draws(self, per_draw=1):
    self.starts = 0

    def stream():
      self.starts += 1
      return iter(range(100, 130))

    return scoring.KeyedDraws(stream, per_draw=per_draw, name="numbers")

  def test_any_access_order_gives_the_same_elements(self):
    draws = self._draws()
    order = [5, 0, 17, 3, 3, 29, 1, 16]
    self.assertEqual([draws(n) for n in order], [100 + n for n in order])
    self.assertEqual([draws(n) for n in range(30)], list(range(100, 130)))

  def test_forward_access_never_restarts_and_recent_draws_are_memoised(self):
    draws = self._draws()
    for n in range(6):
      draws(n)
    for n in (3, 4, 5, 4, 3):  # a round's shared draws, asked again per candidate
      draws(n)
    self.assertEqual(self.starts, 1)
    self.assertEqual([draws(n) for n in range(6, 20)], list(range(106, 120)))
    self.assertEqual(self.starts, 1)
    self.assertEqual(draws(0), 100)  # long gone from the memo: the stream restarts
    self.assertEqual(self.starts, 2)

  def test_per_draw_groups_consecutive_elements(self):
    draws = self._draws(per_draw=3)
    self.assertEqual(draws(2), [106, 107, 108])
    self.assertEqual(draws(0), [100, 101, 102])

  def test_a_rounds_shared_draws_of_several_elements_never_restart(self):
    # --common_batches: every candidate asks for draws 0-2 again, 3 elements each (9 in all).
    draws = self._draws(per_draw=3)
    for _ in range(4):
      self.assertEqual([draws(r) for r in range(3)],
                       [[100, 101, 102], [103, 104, 105], [106, 107, 108]])
    self.assertEqual(self.starts, 1)

  def test_running_out_names_the_stream(self):
    with self.assertRaisesRegex(ValueError, "numbers ran out after 30 element"):
      self._draws()(30)


class _StubSupernet:
  """Stands for an indicator supernet: remembers the alive mask it was given."""

  def set_alive(self, mask):
    self.mask = np.array(mask, dtype=bool)


def _stub_indicator(name, origin_value, drops, origin_mask):
  """An indicator whose value is `origin_value` on the origin and `origin_value * (1 - drop)`
  with the single op (edge, op) removed, so the round's relative drops are exactly `drops`."""
  network = _StubSupernet()

  def measure(net, inputs):
    del inputs
    removed = np.argwhere(origin_mask & ~net.mask)
    if not len(removed):
      return origin_value
    (_, edge, op), = removed
    return origin_value * (1.0 - drops[edge, op])

  return scoring.Indicator(name, measure, lambda c, r: network, lambda draw: None,
                           lambda c, r: r)


class StubPruningTest(tf.test.TestCase):
  """A pruning round on hand-set indicator drops, checked against ranks worked out by hand."""

  def _round(self, prune_number):
    mask = NB201.initial_mask()
    # NTK drops by op column (skip 0.4, conv1x1 0.3, conv3x3 0.2, pool 0.1) on every edge: NTK
    # ranks 0, 1, 2, 3. LR drops 0 but edge 2's skip (0.9) and edge 5's pool (0.5): LR ranks 0,
    # except those two: 2 and 1.
    ntk = np.zeros((6, 5))
    ntk[:, 1:] = [0.4, 0.3, 0.2, 0.1]
    lr = np.zeros((6, 5))
    lr[2, 1], lr[5, 4] = 0.9, 0.5
    settings = prune.PruneSettings(prune_number=prune_number, repeats=2)
    stubs = lambda round_index, num_candidates: [
        _stub_indicator("ntk", 100.0, ntk, mask), _stub_indicator("lr", 1000.0, lr, mask)]
    return prune.prune_round(mask, 0, NB201, stubs, settings)

  def test_each_edge_loses_its_lowest_rank_sum(self):
    new_mask, record = self._round(prune_number=1)
    # Rank sums by hand: every edge skip 0+0, conv1x1 1, conv3x3 2, pool 3; but edge 2: skip
    # 0+2 = 2 > conv1x1 1, and edge 5: pool 3+1. So conv1x1 leaves edge 2, skip the others.
    self.assertEqual({p["edge"]: p["op"] for p in record["pruned"]},
                     {0: "skip_connect", 1: "skip_connect", 2: "nor_conv_1x1",
                      3: "skip_connect", 4: "skip_connect", 5: "skip_connect"})
    ranks = {(r["edge"], r["op"]): (r["ntk"], r["lr"], r["sum"]) for r in record["ranks"]}
    self.assertEqual(ranks[(2, "skip_connect")], (0, 2, 2))
    self.assertEqual(ranks[(5, "avg_pool_3x3")], (3, 1, 4))
    self.assertEqual(ranks[(0, "nor_conv_3x3")], (2, 0, 2))
    scores = {(s["edge"], s["op"]): (s["ntk"], s["lr"]) for s in record["scores"]}
    self.assertEqual(scores[(2, "skip_connect")], (0.4, 0.9))
    self.assertEqual(scores[(3, "avg_pool_3x3")], (0.1, 0.0))
    expected = NB201.initial_mask()
    for edge, op in ((0, 1), (1, 1), (2, 2), (3, 1), (4, 1), (5, 1)):
      expected[0, edge, op] = False
    np.testing.assert_array_equal(new_mask, expected)

  def test_ties_in_rank_sum_follow_the_ntk_order(self):
    _, record = self._round(prune_number=2)
    pruned = {}
    for p in record["pruned"]:
      pruned.setdefault(p["edge"], []).append(p["op"])
    # Edge 2: conv1x1 (sum 1), then skip and conv3x3 tie at 2: skip is first in NTK order.
    self.assertEqual(pruned[2], ["nor_conv_1x1", "skip_connect"])
    self.assertEqual(pruned[0], ["skip_connect", "nor_conv_1x1"])


class OrderIndependenceTest(tf.test.TestCase):
  """Scores depend on (candidate, repeat), not on the order the loop visits them in."""

  def test_candidate_major_and_repeat_major_orders_agree_on_real_indicators(self):
    space = testing_utils.reduced_space(
        NB201, testing_utils.only_ops(NB201, ("skip_connect", "nor_conv_1x1")))
    info = data_lib.dataset_info("synthetic")
    images = data_lib.synthetic_images(32, 32, seed=2)
    ntk_net = space.ntk_network(10, (32, 32, 3), "pytorch_default")
    lr_net = space.linear_region_network(10, "pytorch_default")
    settings = prune.PruneSettings(repeats=2, lr_batches_per_count=2, seed=9)
    make = prune.te_nas_indicators(
        ntk_net, lr_net, lambda seed: data_lib.ntk_batches(images, info, 4, seed),
        lambda seed: data_lib.linear_region_batches(images, info, 20, seed), settings)
    origin = space.initial_mask()
    masks = [prune.without(origin, c) for c in prune.candidates_of(origin)[:4]]
    results = []
    for repeat_major in (False, True, False):
      values, _ = scoring.score_candidates(make(1, len(masks)), len(masks), 2, masks=masks,
                                           origin=origin, repeat_major=repeat_major)
      results.append(values)
    for values in results[1:]:
      for name in ("ntk", "lr"):
        np.testing.assert_array_equal(values[name], results[0][name])
    self.assertGreater(len(np.unique(results[0]["ntk"])), 1)  # real, differing scores


if __name__ == "__main__":
  tf.test.main()
