"""Searches and fixed cells scored on Ray workers: the in-process results, bit for bit.

One Ray instance and one pool of 2 workers serve the class's searches (each start costs tens of
seconds); the 1-worker search and the 2-worker scores go through their jobs, which start their own
workers in that instance. Skipped, with the reason, where Ray is not installed
(`pip install 'tenas_tf[ray]'`); CI installs it.
"""

import logging
import os
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
# Fixed cells of 4 ops (small supernets trace fast), one degenerate (kappa inf), over 2 draws:
# 4 chunks x 2 draws = 8 tasks.
_CELLS_CONFIG = experiments.IndicatorConfig(
    space="nb201", dataset="synthetic", data_source=_SOURCE.identity, draws=2, batch_size=4,
    lr_batch_size=20, lr_batches=1, seed=5, init="pytorch_default")
_CELLS = (
    "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_1x1~1|"
    "avg_pool_3x3~2|",
    "|skip_connect~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|nor_conv_1x1~0|skip_connect~1|"
    "nor_conv_1x1~2|",
    "|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|none~0|none~1|none~2|",
    "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|none~1|skip_connect~2|")


def _comparable(result):
  """result.json without what differs between any two runs (timings, versions)."""
  return {**{k: v for k, v in result.items() if k not in ("seconds", "versions")},
          "rounds": [{k: v for k, v in r.items() if k != "seconds"} for r in result["rounds"]]}


def _search(scorer=None, progress=None):
  """The tiny NB201 search through the search run, in-process or with `scorer`."""
  with tempfile.TemporaryDirectory() as run_dir:
    return experiments.run_search(_CONFIG, _SOURCE.images(), run_dir, scorer=scorer,
                                  progress=progress)


def _scores(workers):
  """scores.csv's rows of `evaluate --mode=score` on the fixed cells, with `workers` workers."""
  with tempfile.TemporaryDirectory() as tmp:
    archs = os.path.join(tmp, "cells.csv")
    with open(archs, "w") as stream:
      stream.write("arch_str\n" + "".join(f"{cell}\n" for cell in _CELLS))
    inputs = experiments.Inputs(_SOURCE, os.path.join(tmp, "run"), workers=workers)
    return experiments.run_scores_job(experiments.ScoresJob(_CELLS_CONFIG, inputs, archs))


@unittest.skipIf(ray is None, "Ray is not installed (pip install 'tenas_tf[ray]')")
class RayWorkersTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    # 4 CPUs: the class's 2 workers and the 1 or 2 a job starts beside them.
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    cls.workers = experiments.RayWorkers(_SOURCE, workers=2)
    cls.local = _search()

  @classmethod
  def tearDownClass(cls):
    cls.workers.close()
    ray.shutdown()
    super().tearDownClass()

  def test_two_workers_give_the_in_process_result_json(self):
    self.assertEqual(_comparable(_search(self.workers.search_scorer(_CONFIG))),
                     _comparable(self.local))

  def test_one_worker_of_the_search_job_gives_the_in_process_result_json(self):
    with tempfile.TemporaryDirectory() as tmp:
      job = experiments.SearchJob(_CONFIG, experiments.Inputs(_SOURCE, os.path.join(tmp, "run"),
                                                              workers=1))
      self.assertEqual(_comparable(experiments.run_search_job(job)), _comparable(self.local))

  def test_a_killed_worker_costs_only_its_unfinished_candidates(self):
    killed = []

    def kill_once(round_index, done, total):
      del total
      if round_index == 0 and done == 3 and not killed:
        ray.kill(self.workers.actors[0], no_restart=False)  # Ray restarts it
        killed.append(True)

    with self.assertLogs("tenas_tf.search", logging.WARNING) as logs:
      result = _search(self.workers.search_scorer(_CONFIG), progress=kill_once)
    self.assertTrue(killed)
    self.assertIn("a Ray worker was restarted", "\n".join(logs.output))
    self.assertEqual(_comparable(result), _comparable(self.local))

  def test_two_workers_of_the_scores_job_give_the_in_process_scores(self):
    local = _scores(workers=0)
    self.assertEqual(local[2]["ntk_cond_1"], float("inf"))  # the degenerate cell
    self.assertEqual(_scores(workers=2), local)


@unittest.skipIf(ray is None, "Ray is not installed (pip install 'tenas_tf[ray]')")
class RayAddressTest(absltest.TestCase):

  def test_an_address_where_nothing_listens_fails_fast_naming_it(self):
    start = time.monotonic()
    with self.assertRaisesRegex(ValueError,
                                r"ray_address '127\.0\.0\.1:9': no Ray cluster answers there"):
      experiments.RayWorkers(_SOURCE, workers=1, address="127.0.0.1:9")
    self.assertLess(time.monotonic() - start, 10.0)


if __name__ == "__main__":
  absltest.main()
