"""Candidates scored on Ray workers: the same search as in-process, a killed worker costs nothing.

Skipped, with the reason, where Ray is not installed (`pip install 'tenas_tf[ray]'`); CI installs
it.
"""

import logging
import time
import unittest

from absl.testing import absltest
import keras
import numpy as np

from tenas_tf import data as data_lib
from tenas_tf import experiments
from tenas_tf import search
from tenas_tf import spaces

try:
  import ray  # pylint: disable=g-import-not-at-top
except ImportError:
  ray = None

_SOURCE = data_lib.DataSource("synthetic", synthetic_count=32, seed=3)
_SETTINGS = search.PruneSettings(repeats=2, lr_batches_per_count=1, seed=3)
_CONFIG = experiments.SearchConfig(space="nb201", dataset="synthetic",
                                   data_source=_SOURCE.identity, batch_size=4, lr_batch_size=20,
                                   settings=_SETTINGS)


def _without_seconds(records):
  return [{k: v for k, v in record.items() if k != "seconds"} for record in records]


def _search(scorer=None, progress=None):
  """Two op rounds of the tiny NB201 search, in-process or with `scorer`."""
  keras.utils.set_random_seed(_SETTINGS.seed)  # as a search run (and each worker) sets it
  space = spaces.get_space("nb201")
  info = data_lib.dataset_info("synthetic")
  images = _SOURCE.images()
  indicators = search.te_nas_indicators(
      _networks()[0], _networks()[1],
      lambda seed: data_lib.ntk_batches(images, info, 4, seed),
      lambda seed: data_lib.linear_region_batches(images, info, 20, seed), _SETTINGS)
  mask, records = space.initial_mask(), []
  for round_index in range(2):
    mask, record = search.prune_round(
        mask, round_index, space, indicators, _SETTINGS, scorer=scorer,
        progress=(lambda done, total, r=round_index: progress(r, done, total)) if progress
        else None)
    records.append(record)
  return mask, records


_NETWORKS = []


def _networks():
  if not _NETWORKS:
    space = spaces.get_space("nb201")
    _NETWORKS.extend([space.ntk_network(10, (32, 32, 3), "pytorch_default"),
                      space.linear_region_network(10, "pytorch_default")])
  return _NETWORKS


@unittest.skipIf(ray is None, "Ray is not installed (pip install 'tenas_tf[ray]')")
class RayScorerTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.scorer = experiments.RayScorer(_CONFIG, _SOURCE, workers=2)
    cls.local_mask, cls.local = _search()

  @classmethod
  def tearDownClass(cls):
    cls.scorer.close()
    super().tearDownClass()

  def test_two_workers_score_exactly_as_in_process(self):
    mask, records = _search(self.scorer)
    np.testing.assert_array_equal(mask, self.local_mask)
    self.assertEqual(_without_seconds(records), _without_seconds(self.local))

  def test_a_killed_worker_costs_only_its_unfinished_candidates(self):
    killed = []

    def kill_once(round_index, done, total):
      del total
      if round_index == 0 and done == 3 and not killed:
        ray.kill(self.scorer.actors[0], no_restart=False)  # Ray restarts it
        killed.append(True)

    with self.assertLogs("tenas_tf.search", logging.WARNING) as logs:
      mask, records = _search(self.scorer, progress=kill_once)
    self.assertTrue(killed)
    self.assertIn("a Ray worker was restarted", "\n".join(logs.output))
    np.testing.assert_array_equal(mask, self.local_mask)
    self.assertEqual(_without_seconds(records), _without_seconds(self.local))


@unittest.skipIf(ray is None, "Ray is not installed (pip install 'tenas_tf[ray]')")
class RayAddressTest(absltest.TestCase):

  def test_an_address_where_nothing_listens_fails_fast_naming_it(self):
    start = time.monotonic()
    with self.assertRaisesRegex(ValueError,
                                r"ray_address '127\.0\.0\.1:9': no Ray cluster answers there"):
      experiments.RayScorer(_CONFIG, _SOURCE, workers=1, address="127.0.0.1:9")
    self.assertLess(time.monotonic() - start, 10.0)


if __name__ == "__main__":
  absltest.main()
