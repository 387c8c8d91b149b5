"""Small NB201 and DARTS searches give the genotypes, pruned ops and ranks pinned before the redesign.

`pinned_results.json` was written by `python -m tests.search.pinned_results_test --write` at
commit 576badf, before the package was reorganised into floors (issue 11). The redesign must not
change a search's outcome, so the records are compared with the pinned ones: genotype, pruned ops,
candidates and ranks exactly, scores to float32 round-off. Every case prunes 2 ops per edge and
round (NB201: rounds of 24 and 12 candidates), its pin computed by 576badf's code with the
harness of that time (commit 7738267's version of this file, the cases' settings changed).

The DARTS case (op round and topology step) is checked through the search binary, by
`tests/launch/darts_search_binary_test.py` (`assert_matches_pinned`): one run serves both that
test and the pin.
"""

import dataclasses
import functools
import json
import os
import sys
import tempfile

from absl.testing import absltest
import numpy as np

from tenas_tf import data as data_lib
from tenas_tf import experiments
from tenas_tf import search
from tenas_tf.spaces import registry
from tests import testing_utils

_PINNED = os.path.join(os.path.dirname(__file__), "pinned_results.json")
DARTS_OPS = ("skip_connect", "max_pool_3x3", "sep_conv_3x3")

# The data and batch sizes of every case.
_SYNTHETIC_COUNT, _BATCH_SIZE, _LR_BATCH_SIZE = 64, 6, 40

# name -> (space, reduced to these ops or None, settings)
_CASES = {
    "nb201_reference": ("nb201", None, dict(prune_number=2, repeats=2, lr_batches_per_count=2,
                                            seed=5)),
    "nb201_common": ("nb201", None, dict(prune_number=2, repeats=2, lr_batches_per_count=2,
                                         seed=6, common_batches=True)),
    "darts_common": ("darts", DARTS_OPS, dict(prune_number=2, repeats=1,
                                               lr_batches_per_count=1, seed=7,
                                               common_batches=True)),
}


@functools.cache
def _space(name, keep_ops):
  """The space (reduced to `keep_ops`), its networks built and traced once per process."""
  space = registry.SPACES[name]
  if keep_ops is not None:
    space = testing_utils.reduced_space(space, testing_utils.only_ops(space, keep_ops))
  return dataclasses.replace(space, ntk_network=functools.cache(space.ntk_network),
                             linear_region_network=functools.cache(space.linear_region_network))


def _search(case):
  """The result of the small search `case`, run in a temporary folder."""
  space_name, keep_ops, settings = _CASES[case]
  config = experiments.SearchConfig(space=space_name, dataset="synthetic",
                                    data_source=f"synthetic:{_SYNTHETIC_COUNT}",
                                    batch_size=_BATCH_SIZE, lr_batch_size=_LR_BATCH_SIZE,
                                    settings=search.PruneSettings(**settings))
  images = data_lib.load_images("synthetic", synthetic_count=_SYNTHETIC_COUNT,
                                seed=settings["seed"])
  original = registry.SPACES[space_name]
  registry.SPACES[space_name] = _space(space_name, keep_ops)
  try:
    with tempfile.TemporaryDirectory() as run_dir:
      return experiments.run_search(config, images, run_dir)
  finally:
    registry.SPACES[space_name] = original


def _pinned_view(result):
  return {"genotype": result["genotype"],
          "rounds": [{key: value for key, value in record.items() if key != "seconds"}
                     for record in result["rounds"]]}


def assert_matches_pinned(test_case, result, case):
  """Fails `test_case` unless the search `result` (result.json's) has the pinned outcome of
  `case`: genotype, and per round its kind, pruned ops, candidates, ranks and warnings exactly,
  scores to float32 round-off."""
  with open(_PINNED) as stream:
    want = json.load(stream)[case]
  got = _pinned_view(result)
  test_case.assertEqual(got["genotype"], want["genotype"])
  test_case.assertEqual(len(got["rounds"]), len(want["rounds"]))
  for got_round, want_round in zip(got["rounds"], want["rounds"]):
    for key in ("round", "kind", "pruned", "ranks", "warnings"):
      test_case.assertEqual(got_round[key], want_round[key],
                            f"round {want_round['round']}: {key}")
    test_case.assertEqual(len(got_round["scores"]), len(want_round["scores"]))
    for got_score, want_score in zip(got_round["scores"], want_round["scores"]):
      test_case.assertEqual({k: got_score[k] for k in ("cell", "edge", "op")},
                            {k: want_score[k] for k in ("cell", "edge", "op")})
      np.testing.assert_allclose([got_score["ntk"], got_score["lr"]],
                                 [want_score["ntk"], want_score["lr"]], rtol=1e-4, atol=1e-6)


def search_command(case, *flags):
  """The search binary's command line (`testing_utils.reduced_search_command`) that runs the
  same search as `_search(case)`, with `flags` (e.g. --run_dir) after the case's own."""
  space_name, keep_ops, settings = _CASES[case]
  return testing_utils.reduced_search_command(
      space_name, keep_ops or registry.SPACES[space_name].ops,
      f"--space={space_name}", "--dataset=synthetic", f"--synthetic_count={_SYNTHETIC_COUNT}",
      f"--ntk_batch_size={_BATCH_SIZE}", f"--lr_batch_size={_LR_BATCH_SIZE}",
      f"--lr_batches={settings['lr_batches_per_count']}", f"--repeats={settings['repeats']}",
      f"--seed={settings['seed']}", f"--prune_number={settings['prune_number']}",
      *(["--common_batches"] if settings.get("common_batches") else []), *flags)


class PinnedResultsTest(absltest.TestCase):

  def test_nb201_reference_batches(self):
    assert_matches_pinned(self, _search("nb201_reference"), "nb201_reference")

  def test_nb201_common_batches(self):
    assert_matches_pinned(self, _search("nb201_common"), "nb201_common")


if __name__ == "__main__":
  if "--write" in sys.argv:
    pinned = {case: _pinned_view(_search(case)) for case in _CASES}
    with open(_PINNED, "w") as stream:
      json.dump(pinned, stream, indent=1, sort_keys=True)
      stream.write("\n")
  else:
    absltest.main()
