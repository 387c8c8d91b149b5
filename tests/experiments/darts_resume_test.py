"""A DARTS search interrupted in its topology step resumes to the uninterrupted result."""

import dataclasses
import functools
import json
import os
import tempfile
from unittest import mock

from absl.testing import absltest

from tenas_tf import data as data_lib
from tenas_tf import experiments
from tenas_tf import search
from tenas_tf.spaces import darts
from tenas_tf.spaces import registry
from tests import testing_utils

# Ops without weights, two of them on node 0's edges only (a CPU traces and scores these networks
# in seconds): one op round of 8 candidates, then one topology round per node with more than 2
# inputs (rounds 1-6, 24 candidates).
_KEEP = ("skip_connect", "max_pool_3x3")
_SINGLE_OP_FROM_EDGE = darts.NODE_EDGES[1][0]
_SETTINGS = search.PruneSettings(prune_number=1, repeats=1, lr_batches_per_count=1,
                                 common_batches=True, seed=3)
_CONFIG = experiments.SearchConfig(space="darts", dataset="synthetic", data_source="synthetic:64",
                              batch_size=4, lr_batch_size=40, settings=_SETTINGS)
_STOP_AT_ROUND = 2  # after the op round and the first topology round


class _Interrupted(Exception):
  """Raised from the progress callback: the search stops as if killed there."""


def _stop_at(round_index):
  def progress(index, done, total):
    del done, total
    if index == round_index:
      raise _Interrupted
  return progress


def _space():
  """The reduced DARTS space, its networks built (and traced) once for all searches of the test.

  Sharing them is safe: every round re-initialises them from (seed, round).
  """
  mask = testing_utils.only_ops(registry.DARTS, _KEEP)
  mask[:, _SINGLE_OP_FROM_EDGE:, darts.DARTS_OPS.index("max_pool_3x3")] = False
  reduced = testing_utils.reduced_space(registry.DARTS, mask)
  return dataclasses.replace(
      reduced, ntk_network=functools.cache(reduced.ntk_network),
      linear_region_network=functools.cache(reduced.linear_region_network))


def _json(path):
  with open(path) as stream:
    return json.load(stream)


def _without_seconds(records):
  return [{key: value for key, value in record.items() if key != "seconds"}
          for record in records]


class DartsTopologyResumeTest(absltest.TestCase):

  def test_search_interrupted_in_the_topology_step_resumes_to_the_same_result(self):
    # One test method: the three searches share one trace of the networks.
    self.enter_context(mock.patch.dict(registry.SPACES, darts=_space()))
    tmp = self.enter_context(tempfile.TemporaryDirectory())
    whole_dir, resumed_dir = os.path.join(tmp, "whole"), os.path.join(tmp, "resumed")
    images = data_lib.load_images("synthetic", synthetic_count=64, seed=3)

    whole = experiments.run_search(_CONFIG, images, whole_dir)
    self.assertEqual([r["kind"] for r in whole["rounds"]], ["ops"] + ["topology"] * 6)
    self.assertEqual([len(r["scores"]) for r in whole["rounds"]], [8, 3, 4, 5, 3, 4, 5])

    with self.assertRaises(_Interrupted):
      experiments.run_search(_CONFIG, images, resumed_dir, progress=_stop_at(_STOP_AT_ROUND))
    self.assertFalse(os.path.exists(os.path.join(resumed_dir, "result.json")))
    state = _json(os.path.join(resumed_dir, "state.json"))
    self.assertEqual([(r["kind"], r.get("cell"), r.get("node")) for r in state["rounds"]],
                     [("ops", None, None), ("topology", "normal", 1)])

    rounds_run = []
    with self.assertLogs("tenas_tf.search", "INFO") as logs:
      resumed = experiments.run_search(_CONFIG, images, resumed_dir,
                           progress=lambda index, done, total: rounds_run.append(index))
    self.assertIn(f"resuming {resumed_dir} after {_STOP_AT_ROUND} finished rounds",
                  "\n".join(logs.output))
    self.assertEqual(sorted(set(rounds_run)), list(range(_STOP_AT_ROUND, 7)))  # no round redone
    self.assertEqual(resumed["rounds"][:_STOP_AT_ROUND], state["rounds"])
    self.assertEqual(resumed["genotype"], whole["genotype"])
    self.assertEqual(_without_seconds(resumed["rounds"]), _without_seconds(whole["rounds"]))
    self.assertEqual(_json(os.path.join(resumed_dir, "result.json")), resumed)
    registry.DARTS.genotype_from_json(resumed["genotype"])  # a valid DARTS genotype


if __name__ == "__main__":
  absltest.main()
