"""Progress of a search: plain lines with an ETA in a log, a bar on a terminal, the summary."""

import io
import os
import tempfile
from unittest import mock

from absl.testing import absltest

from tenas_tf.experiments import progress as progress_lib


class _Clock:
  """A monotonic clock the test moves by hand."""

  def __init__(self):
    self.now = 100.0

  def __call__(self):
    return self.now


class SearchProgressTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.clock = _Clock()
    self.enter_context(mock.patch.object(progress_lib.time, "monotonic", self.clock))

  def test_plain_lines_with_an_eta_and_no_carriage_returns(self):
    stream = io.StringIO()
    shown = progress_lib.SearchProgress(stream, interval_s=10.0, terminal=False)
    shown.begin()
    self.clock.now += 30.0  # tracing and the first candidate
    shown(0, 1, 5)
    for done in (2, 3, 4):
      self.clock.now += 6.0
      shown(0, done, 5)
    self.clock.now += 6.0
    shown(0, 5, 5)
    shown.close()
    text = stream.getvalue()
    self.assertNotIn("\r", text)
    lines = text.splitlines()
    self.assertEqual(lines[0], "building and tracing the indicator networks (once per process; "
                               "the first candidate includes it) ...")
    self.assertEqual(lines[1], "indicator networks traced; first candidate scored after 30.0 s")
    # A line every 10 s at most: after candidate 3 (12 s after the round's first report), with
    # the rate of the candidates after the first (6 s each) for the 2 left.
    self.assertEqual(lines[2], "round 0: candidate 3/5, elapsed 12 s, ETA 12 s")
    self.assertEqual(lines[3], "round 0: 5/5 candidates in 24 s")
    self.assertLen(lines, 4)

  def test_tracing_line_once_per_process_not_per_round(self):
    stream = io.StringIO()
    shown = progress_lib.SearchProgress(stream, interval_s=0.0, terminal=False)
    shown(0, 1, 1)
    shown(1, 1, 1)
    self.assertEqual(stream.getvalue().count("indicator networks traced"), 1)
    self.assertIn("round 1: 1/1 candidates", stream.getvalue())

  def test_terminal_draws_a_bar_per_round(self):
    stream = io.StringIO()
    shown = progress_lib.SearchProgress(stream, terminal=True)
    for done in range(1, 4):
      shown(2, done, 3)
    text = stream.getvalue()
    self.assertIn("\r", text)  # redrawn in place
    self.assertIn("round 2", text)
    self.assertIn("3/3", text)


class SummaryTest(absltest.TestCase):

  def test_summary_names_genotype_accuracies_rounds_and_files(self):
    run_dir = self.enter_context(tempfile.TemporaryDirectory())
    for name in ("result.json", "state.json", ".tmp-x"):
      open(os.path.join(run_dir, name), "w").close()
    arch = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
            "|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
    result = {"config": {"space": "nb201"}, "genotype": arch, "seconds": 125.4,
              "rounds": [{"round": 0, "seconds": 70.2}, {"round": 1, "seconds": 55.2}],
              "accuracies": {"cifar10": 92.46999999999998}, "warnings": ["w1"]}
    self.assertEqual(progress_lib.search_summary(result, run_dir).splitlines(), [
        f"genotype: {arch}",
        "NB201 test accuracy, cifar10: 92.47 %",
        "search time: 2 min 05 s in 2 rounds (0: 1 min 10 s, 1: 55 s)",
        "warning: w1",
        f"files in {run_dir}: result.json, state.json",
    ])


if __name__ == "__main__":
  absltest.main()
