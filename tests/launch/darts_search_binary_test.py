"""A tiny DARTS search through the search binary: op rounds, the topology step, result.json, and
the outcome pinned for it (tests/search/pinned_results_test.py)."""

import json
import os
import subprocess
import tempfile

from absl.testing import absltest

from tenas_tf.spaces import DartsGenotype
from tests.search import pinned_results_test

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The pinned DARTS search (tests/search/pinned_results_test.py): its space reduced to
# skip_connect, max_pool_3x3 and sep_conv_3x3 (`testing_utils.reduced_space`; the full supernet
# is minutes of CPU per round and the flow under test is the same), --prune_number=2: one op
# round, then six topology rounds.
CASE = "darts_common"
KEEP = pinned_results_test.DARTS_OPS


class DartsSearchBinaryTest(absltest.TestCase):

  def test_search_writes_a_valid_darts_genotype(self):
    tmp = self.enter_context(tempfile.TemporaryDirectory())
    run_dir = os.path.join(tmp, "run")
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.run(pinned_results_test.search_command(CASE, f"--run_dir={run_dir}"),
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    self.assertEqual(process.returncode, 0, process.stderr[-3000:])
    with open(os.path.join(run_dir, "result.json")) as stream:
      result = json.load(stream)

    genotype = DartsGenotype.from_json(result["genotype"])  # validates ops, inputs, 8 pairs
    self.assertEqual(sorted(result["genotype"]),
                     ["normal", "normal_concat", "reduce", "reduce_concat"])
    for cell_type in ("normal", "reduce"):
      pairs = result["genotype"][cell_type]
      self.assertLen(pairs, 8)
      for node in range(4):
        (_, first), (_, second) = pairs[2 * node:2 * node + 2]
        self.assertNotEqual(first, second)
        self.assertLess(first, second)  # as the reference derives them: lower input first
        self.assertLess(second, node + 2)
      self.assertTrue({op for op, _ in pairs} <= set(KEEP))
    self.assertEqual(genotype.to_json(), result["genotype"])

    rounds = result["rounds"]
    self.assertEqual([r["kind"] for r in rounds], ["ops"] + ["topology"] * 6)
    self.assertEqual([len(r["scores"]) for r in rounds], [84, 3, 4, 5, 3, 4, 5])
    self.assertEqual([len(r["pruned"]) for r in rounds], [56, 1, 2, 3, 1, 2, 3])
    self.assertEqual([(r["cell"], r["node"]) for r in rounds[1:]],
                     [(cell, node) for cell in ("normal", "reduce") for node in (1, 2, 3)])
    self.assertEqual(result["config"]["space"], "darts")
    self.assertIn(f"genotype: {genotype.to_string()}", process.stdout)
    with open(os.path.join(run_dir, "state.json")) as stream:
      self.assertEqual(json.load(stream)["rounds"], rounds)
    self.assertTrue(os.path.exists(os.path.join(run_dir, "search.flags")))
    pinned_results_test.assert_matches_pinned(self, result, CASE)


if __name__ == "__main__":
  absltest.main()
