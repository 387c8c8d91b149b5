"""A search stopped with Ctrl-C after its first round resumes to the uninterrupted result.

Ctrl-C (SIGINT) exits 130 with one line and no traceback; a SIGKILLed search resumes the same
way (tests/train/train_binary_test.py kills a training run), since every round's state is written
atomically when the round ends.
"""

import json
import os
import signal
import tempfile

from absl.testing import absltest

from tests import testing_utils

TINY = ["--space=nb201", "--dataset=synthetic", "--synthetic_count=64", "--ntk_batch_size=4",
        "--lr_batch_size=40", "--lr_batches=1", "--repeats=1", "--prune_number=1", "--seed=2"]
# Three ops per edge, so two rounds (18 and 12 candidates) with one convolution: the binary's
# resume path is the same as on the whole space, and its networks trace in a third of the time.
KEEP = ("skip_connect", "nor_conv_1x1", "avg_pool_3x3")


def _command(run_dir, *extra):
  return testing_utils.reduced_search_command("nb201", KEEP, *TINY, f"--run_dir={run_dir}",
                                              *extra)


def _files(run_dir):
  """{relative path: bytes} of every file under `run_dir`."""
  found = {}
  for folder, _, names in os.walk(run_dir):
    for name in names:
      path = os.path.join(folder, name)
      with open(path, "rb") as stream:
        found[os.path.relpath(path, run_dir)] = stream.read()
  return found


def _finished_rounds(run_dir):
  try:
    with open(os.path.join(run_dir, "state.json")) as stream:
      return len(json.load(stream)["rounds"])
  except (OSError, ValueError):
    return 0


class SearchResumeTest(absltest.TestCase):

  def test_interrupted_search_resumes_to_the_uninterrupted_result(self):
    tmp = self.enter_context(tempfile.TemporaryDirectory())
    killed_dir, whole_dir = os.path.join(tmp, "killed"), os.path.join(tmp, "whole")
    running, code, stderr = testing_utils.signal_after_progress(
        _command(killed_dir), lambda: _finished_rounds(killed_dir) >= 1, signal.SIGINT)
    if not running:
      self.fail("the search ended before it could be interrupted after its first round")
    self.assertEqual(code, 130, stderr[-3000:])
    self.assertNotIn("Traceback", stderr)
    self.assertFalse(os.path.exists(os.path.join(killed_dir, "result.json")))
    rounds_at_kill = _finished_rounds(killed_dir)
    self.assertBetween(rounds_at_kill, 1, 2)
    self.assertIn(f"interrupted in round {rounds_at_kill} (rounds 0-{rounds_at_kill - 1} are "
                  f"saved in {killed_dir}); rerun the same command to resume",
                  stderr.strip().splitlines()[-1])

    resumed = testing_utils.run_binary(_command(killed_dir))
    self.assertEqual(resumed.returncode, 0, resumed.stderr[-3000:])
    self.assertIn(f"resuming {killed_dir} after {rounds_at_kill} finished rounds", resumed.stderr)
    whole = testing_utils.run_binary(_command(whole_dir))
    self.assertEqual(whole.returncode, 0, whole.stderr[-3000:])
    resumed_result = testing_utils.read_result(killed_dir)
    whole_result = testing_utils.read_result(whole_dir)
    self.assertEqual(resumed_result["genotype"], whole_result["genotype"])
    for resumed_round, whole_round in zip(resumed_result["rounds"], whole_result["rounds"]):
      for key in ("pruned", "scores", "ranks"):
        self.assertEqual(resumed_round[key], whole_round[key])

    # A finished run is not redone; another configuration in its directory is refused.
    again = testing_utils.run_binary(_command(killed_dir))
    self.assertEqual(again.returncode, 0, again.stderr[-3000:])
    self.assertIn("already holds a finished search", again.stderr)
    self.assertEqual(testing_utils.read_result(killed_dir), resumed_result)
    before = _files(killed_dir)
    self.assertIn("--seed=2", before["search.flags"].decode().splitlines())
    other = testing_utils.run_binary(_command(killed_dir, "--seed=3"))
    self.assertNotEqual(other.returncode, 0)
    self.assertIn("holds a search with another configuration", other.stderr)
    self.assertIn("settings.seed: 2 in the run, 3 now", other.stderr)
    self.assertNotIn("Traceback", other.stderr)
    # The refused rerun wrote nothing: search.flags still reruns the search that is there.
    self.assertEqual(_files(killed_dir), before)


if __name__ == "__main__":
  absltest.main()
