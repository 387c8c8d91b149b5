"""A search killed with SIGKILL after its first round resumes to the uninterrupted result."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from absl.testing import absltest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["--space=nb201", "--dataset=synthetic", "--synthetic_count=64", "--batch_size=4",
        "--lr_batch_size=40", "--lr_batches=1", "--repeats=1", "--prune_number=1", "--seed=2"]
ENV = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")


def _command(run_dir, *extra):
  return [sys.executable, "-m", "tenas_tf.launch.search", *TINY, f"--run_dir={run_dir}", *extra]


def _run(run_dir, *extra):
  return subprocess.run(_command(run_dir, *extra), cwd=REPO, env=ENV, capture_output=True,
                        text=True, timeout=600)


def _finished_rounds(run_dir):
  try:
    with open(os.path.join(run_dir, "state.json")) as stream:
      return len(json.load(stream)["rounds"])
  except (OSError, ValueError):
    return 0


def _result(run_dir):
  with open(os.path.join(run_dir, "result.json")) as stream:
    return json.load(stream)


class SearchResumeTest(absltest.TestCase):

  def test_killed_search_resumes_to_the_uninterrupted_result(self):
    tmp = self.enter_context(tempfile.TemporaryDirectory())
    killed_dir, whole_dir = os.path.join(tmp, "killed"), os.path.join(tmp, "whole")
    process = subprocess.Popen(_command(killed_dir), cwd=REPO, env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while _finished_rounds(killed_dir) < 1 and process.poll() is None and time.time() < deadline:
      time.sleep(0.05)
    if process.poll() is not None:
      self.fail("the search ended before it could be killed after its first round")
    process.send_signal(signal.SIGKILL)
    process.wait()
    self.assertFalse(os.path.exists(os.path.join(killed_dir, "result.json")))
    rounds_at_kill = _finished_rounds(killed_dir)
    self.assertBetween(rounds_at_kill, 1, 2)

    resumed = _run(killed_dir)
    self.assertEqual(resumed.returncode, 0, resumed.stderr[-3000:])
    self.assertIn(f"resuming {killed_dir} after {rounds_at_kill} finished rounds", resumed.stderr)
    whole = _run(whole_dir)
    self.assertEqual(whole.returncode, 0, whole.stderr[-3000:])
    resumed_result, whole_result = _result(killed_dir), _result(whole_dir)
    self.assertEqual(resumed_result["genotype"], whole_result["genotype"])
    for resumed_round, whole_round in zip(resumed_result["rounds"], whole_result["rounds"]):
      for key in ("pruned", "scores", "ranks"):
        self.assertEqual(resumed_round[key], whole_round[key])

    # A finished run is not redone; another configuration in its directory is refused.
    again = _run(killed_dir)
    self.assertEqual(again.returncode, 0, again.stderr[-3000:])
    self.assertIn("already holds a finished search", again.stderr)
    self.assertEqual(_result(killed_dir), resumed_result)
    other = _run(killed_dir, "--seed=3")
    self.assertNotEqual(other.returncode, 0)
    self.assertIn("holds a search with another configuration", other.stderr)
    self.assertNotIn("Traceback", other.stderr)


if __name__ == "__main__":
  absltest.main()
