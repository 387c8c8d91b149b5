"""Searches and fixed cells scored on Ray workers: the in-process results, bit for bit.

One Ray instance and one pool of 2 workers serve the class's searches (each start costs tens of
seconds); the 1-worker search and the 2-worker scores go through their jobs, which start their own
workers in that instance. Skipped, with the reason, where Ray is not installed
(`pip install 'tenas_tf[ray]'`); CI installs it.

The NB201 space is reduced to `_OPS` (`testing_utils.reduced_space`) in this process and, through
Ray's `worker_process_setup_hook`, in every worker process (restarted ones too): the same search
and scoring flow on supernets of 2 built ops per edge, which trace in a fraction of the time of
the full space's 5.
"""

import dataclasses
import logging
import os
import pathlib
import tempfile
import time
import unittest

from absl.testing import absltest
import numpy as np

from tenas_tf import data as data_lib
from tenas_tf import experiments
from tenas_tf import search
from tenas_tf.spaces import registry
from tests import testing_utils

try:
  import ray  # pylint: disable=g-import-not-at-top
except ImportError:
  ray = None

# `none` is never alive at a search's start: a search starts from 2 ops per edge, so its one round
# (prune_number=1) scores 6 edges x 2 ops = 12 candidates and leaves one op per edge.
_OPS = ("none", "skip_connect", "nor_conv_1x1")
_ROUND_0_CANDIDATES = 12


def use_reduced_space():
  """Registers NB201 reduced to `_OPS` as `registry.SPACES["nb201"]` in this process.

  Its searches start from `_OPS` and build only those alive there (`testing_utils.reduced_space`);
  fixed cells' networks hold the ops their masks ask for (`built_ops`), as in NB201 itself: a
  reduced space builds its own whatever they ask, never `none`, which a cell's mask may hold.
  Every Ray worker process runs it at its start (`worker_process_setup_hook`); the test process
  too, between setUpClass and tearDownClass.
  """
  nb201 = registry.NB201
  reduced = testing_utils.reduced_space(nb201, testing_utils.only_ops(nb201, _OPS))

  def ntk_network(num_classes, input_shape, init, built_ops=None):
    return (nb201 if built_ops is not None else reduced).ntk_network(
        num_classes, input_shape, init, built_ops=built_ops)

  def linear_region_network(num_classes, init, built_ops=None):
    return (nb201 if built_ops is not None else reduced).linear_region_network(
        num_classes, init, built_ops=built_ops)

  registry.SPACES["nb201"] = dataclasses.replace(
      reduced, ntk_network=ntk_network, linear_region_network=linear_region_network)


# `use_reduced_space` as the workers import it (PYTHONPATH is the repository root), whatever name
# pytest gave this module.
_SETUP_HOOK = ".".join(
    pathlib.Path(__file__).resolve().relative_to(testing_utils.REPO).with_suffix("").parts +
    (use_reduced_space.__name__,))

_SOURCE = data_lib.DataSource("synthetic", synthetic_count=32, seed=3)
_SETTINGS = search.PruneSettings(prune_number=1, repeats=1, lr_batches_per_count=1, seed=3)
_CONFIG = experiments.SearchConfig(space="nb201", dataset="synthetic",
                                   data_source=_SOURCE.identity, batch_size=4, lr_batch_size=20,
                                   settings=_SETTINGS)
# Fixed cells of the reduced space's ops, one degenerate (node 3 fed by `none` alone: kappa inf),
# over 2 draws: 4 chunks x 2 draws = 8 tasks.
_CELLS_CONFIG = experiments.IndicatorConfig(
    space="nb201", dataset="synthetic", data_source=_SOURCE.identity, draws=2, batch_size=4,
    lr_batch_size=20, lr_batches=1, seed=5, init="pytorch_default")
_CELLS = (
    "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_1x1~1|"
    "skip_connect~2|",
    "|skip_connect~0|+|nor_conv_1x1~0|none~1|+|nor_conv_1x1~0|skip_connect~1|nor_conv_1x1~2|",
    "|nor_conv_1x1~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|none~1|none~2|",
    "|nor_conv_1x1~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|none~1|skip_connect~2|")
_DEGENERATE = 2


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
    original = registry.SPACES["nb201"]
    cls.addClassCleanup(registry.SPACES.__setitem__, "nb201", original)  # even if this fails
    use_reduced_space()
    # 4 CPUs: the class's 2 workers and the 1 or 2 a job starts beside them.
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": testing_utils.REPO},
                          "worker_process_setup_hook": _SETUP_HOOK})
    cls.addClassCleanup(ray.shutdown)
    cls.workers = experiments.RayWorkers(_SOURCE, workers=2)
    cls.addClassCleanup(cls.workers.close)
    cls.local = _search()

  def test_the_workers_and_the_in_process_search_use_the_reduced_space(self):
    want = testing_utils.only_ops(registry.NB201, _OPS)
    # In each worker process (the setup hook ran there).
    masks = ray.get([actor.__ray_call__.remote(
        lambda worker: registry.SPACES["nb201"].initial_mask()) for actor in self.workers.actors])
    for mask in masks:
      np.testing.assert_array_equal(mask, want)
    # In this process: one round of 6 edges x 2 ops (the Ray results equal it bit for bit).
    self.assertLen(self.local["rounds"], 1)
    self.assertLen(self.local["rounds"][0]["scores"], _ROUND_0_CANDIDATES)
    self.assertEqual(_ROUND_0_CANDIDATES, int(want.sum()))

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
    self.assertEqual(local[_DEGENERATE]["ntk_cond_1"], float("inf"))
    self.assertEqual(
        [cell for cell, row in enumerate(local) if not np.isfinite(row["ntk_cond_1"])],
        [_DEGENERATE])
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
