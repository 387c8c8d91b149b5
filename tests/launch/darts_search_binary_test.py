"""A tiny DARTS search through the search binary: op rounds, the topology step, result.json."""

import json
import os
import subprocess
import tempfile

from absl.testing import absltest

from tenas_tf.spaces import DartsGenotype
from tests import testing_utils

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["--space=darts", "--dataset=synthetic", "--synthetic_count=64", "--ntk_batch_size=4",
        "--lr_batch_size=40", "--lr_batches=1", "--repeats=1", "--prune_number=1", "--seed=3",
        "--common_batches"]

# The binary's main on the DARTS space with its candidates restricted to three ops without weights
# (`testing_utils.reduced_space`): the full supernet's vectorised NTK Jacobian takes minutes to
# trace on a CPU, and the flow under test (flags, op rounds, topology rounds, run directory) is
# the same. 3 ops per edge and --prune_number=1: two op rounds, then six topology rounds.
KEEP = ("skip_connect", "avg_pool_3x3", "max_pool_3x3")


class DartsSearchBinaryTest(absltest.TestCase):

  def test_search_writes_a_valid_darts_genotype(self):
    tmp = self.enter_context(tempfile.TemporaryDirectory())
    run_dir = os.path.join(tmp, "run")
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.run(
        testing_utils.reduced_search_command("darts", KEEP, *TINY, f"--run_dir={run_dir}"),
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
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
    self.assertEqual([r["kind"] for r in rounds], ["ops"] * 2 + ["topology"] * 6)
    self.assertEqual([len(r["scores"]) for r in rounds], [84, 56, 3, 4, 5, 3, 4, 5])
    self.assertEqual([len(r["pruned"]) for r in rounds], [28, 28, 1, 2, 3, 1, 2, 3])
    self.assertEqual([(r["cell"], r["node"]) for r in rounds[2:]],
                     [(cell, node) for cell in ("normal", "reduce") for node in (1, 2, 3)])
    self.assertEqual(result["config"]["space"], "darts")
    self.assertIn(f"genotype: {genotype.to_string()}", process.stdout)
    with open(os.path.join(run_dir, "state.json")) as stream:
      self.assertEqual(json.load(stream)["rounds"], rounds)
    self.assertTrue(os.path.exists(os.path.join(run_dir, "search.flags")))


if __name__ == "__main__":
  absltest.main()
