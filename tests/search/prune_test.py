"""The pruning round on the real NB201 indicator nets with tiny inputs."""

import numpy as np
import tensorflow as tf

from tenas_tf import data as data_lib
from tenas_tf.search import prune
from tenas_tf.spaces import registry
from tests import testing_utils

SPACE = registry.get_space("nb201")
INFO = data_lib.dataset_info("synthetic")


def _streams(images, batch_size=4, lr_batch_size=40):
  return (lambda seed: iter(data_lib.ntk_batches(images, INFO, batch_size, seed)),
          lambda seed: iter(data_lib.linear_region_batches(images, INFO, lr_batch_size, seed)))


class MaskLogicTest(tf.test.TestCase):

  def test_candidates_skip_single_op_edges(self):
    mask = SPACE.initial_mask()
    self.assertLen(prune.candidates_of(mask), 24)
    mask[0, 2] = [False, False, True, False, False]
    candidates = prune.candidates_of(mask)
    self.assertLen(candidates, 20)
    self.assertNotIn(2, {c.edge for c in candidates})

  def test_ops_to_remove_never_empties_an_edge(self):
    mask = SPACE.initial_mask()  # 4 alive per edge
    self.assertEqual(prune.ops_to_remove(mask, 1), 1)
    self.assertEqual(prune.ops_to_remove(mask, 3), 3)
    self.assertEqual(prune.ops_to_remove(mask, 7), 3)

  def test_settings_reject_bad_values(self):
    for name in ("prune_number", "repeats", "lr_batches_per_count"):
      with self.assertRaisesRegex(ValueError, f"{name} must be an int >= 1; got 0"):
        prune.PruneSettings(**{name: 0})
    with self.assertRaisesRegex(ValueError, "init must be one of .*got 'xavier'"):
      prune.PruneSettings(init="xavier")


class PruneRoundTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.images = data_lib.synthetic_images(64, 32, seed=1)
    cls.ntk_net = SPACE.ntk_network(10, (32, 32, 3), "pytorch_default")
    cls.lr_net = SPACE.linear_region_network(10, "pytorch_default")

  def _round(self, settings, mask=None):
    ntk_batches, lr_batches = _streams(self.images)
    mask = SPACE.initial_mask() if mask is None else mask
    return prune.prune_round(
        mask, 0, SPACE,
        prune.te_nas_indicators(self.ntk_net, self.lr_net, ntk_batches, lr_batches, settings),
        settings)

  def test_round_is_deterministic_and_seed_dependent(self):
    # Two ops per edge (a conv and a pool): 12 candidates a round instead of 24, same mechanism.
    mask = testing_utils.only_ops(SPACE, ("nor_conv_3x3", "avg_pool_3x3"))
    settings = prune.PruneSettings(repeats=1, lr_batches_per_count=1, seed=3)
    _, first = self._round(settings, mask.copy())
    _, second = self._round(settings, mask.copy())
    self.assertLen(first["scores"], 12)
    self.assertEqual(first["scores"], second["scores"])
    _, other = self._round(prune.PruneSettings(repeats=1, lr_batches_per_count=1, seed=4),
                           mask.copy())
    self.assertNotEqual(first["scores"], other["scores"])

  def test_degenerate_network_never_crashes_the_ranking(self):
    # Every edge into node 3 is dead, so the output is cut off from the input: the NTK is all
    # zeros (kappa inf) for the origin and every candidate, and all #LR come from the head only.
    mask = SPACE.initial_mask()
    mask[0, 3:6] = False
    settings = prune.PruneSettings(repeats=2, lr_batches_per_count=1)
    new_mask, record = self._round(settings, mask)
    self.assertLen(record["scores"], 12)  # only the 3 live edges have candidates
    for score in record["scores"]:
      self.assertEqual(score["ntk"], 0.0)  # inf -> inf is defined as no change
      self.assertFalse(np.isnan(score["lr"]))
    self.assertNotEmpty(record["warnings"])
    self.assertIn("non-finite or zero indicator", record["warnings"][0])
    np.testing.assert_array_equal(new_mask[0, :3].sum(axis=-1), [3, 3, 3])
    np.testing.assert_array_equal(new_mask[0, 3:].sum(axis=-1), [0, 0, 0])


if __name__ == "__main__":
  tf.test.main()
