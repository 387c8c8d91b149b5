"""Candidates scored on Ray workers: the same search as in-process, a killed worker costs nothing.

Skipped, with the reason, where Ray is not installed (`pip install 'tenas_tf[ray]'`); CI installs
it.
"""

import logging
import tempfile
import time
import unittest

from absl.testing import absltest

from tenas_tf import data as data_lib
from tenas_tf import experiments
from tenas_tf import search

try:
  import ray  # pylint: disable=g-import-not-at-top
except ImportError:
  ray = None

_SOURCE = data_lib.DataSource("synthetic", synthetic_count=32, seed=3)
_SETTINGS = search.PruneSettings(prune_number=3, repeats=1, lr_batches_per_count=1, seed=3)
_CONFIG = experiments.SearchConfig(space="nb201", dataset="synthetic",
                                   data_source=_SOURCE.identity, batch_size=4, lr_batch_size=20,
                                   settings=_SETTINGS)


def _comparable(result):
  """result.json without what differs between any two runs (timings, versions)."""
  return {**{k: v for k, v in result.items() if k not in ("seconds", "versions")},
          "rounds": [{k: v for k, v in r.items() if k != "seconds"} for r in result["rounds"]]}


def _search(scorer=None, progress=None):
  """The tiny NB201 search through the search run, in-process or with `scorer`."""
  with tempfile.TemporaryDirectory() as run_dir:
    return experiments.run_search(_CONFIG, _SOURCE.images(), run_dir, scorer=scorer,
                                  progress=progress)


@unittest.skipIf(ray is None, "Ray is not installed (pip install 'tenas_tf[ray]')")
class RayScorerTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.scorer = experiments.RayScorer(_CONFIG, _SOURCE, workers=2)
    cls.local = _search()

  @classmethod
  def tearDownClass(cls):
    cls.scorer.close()
    super().tearDownClass()

  def test_two_workers_give_the_in_process_result_json(self):
    self.assertEqual(_comparable(_search(self.scorer)), _comparable(self.local))

  def test_a_killed_worker_costs_only_its_unfinished_candidates(self):
    killed = []

    def kill_once(round_index, done, total):
      del total
      if round_index == 0 and done == 3 and not killed:
        ray.kill(self.scorer.actors[0], no_restart=False)  # Ray restarts it
        killed.append(True)

    with self.assertLogs("tenas_tf.search", logging.WARNING) as logs:
      result = _search(self.scorer, progress=kill_once)
    self.assertTrue(killed)
    self.assertIn("a Ray worker was restarted", "\n".join(logs.output))
    self.assertEqual(_comparable(result), _comparable(self.local))


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
