"""A binary's main under `_cli.run_command`: real signals exit 130 / 143 with one line, however
the library code that was running let their exception out; bad input exits 1 with its message."""

import contextlib
import io
import os
import signal
import time

from absl.testing import absltest
import numpy as np

from tenas_tf.launch import _cli

_LINE = "stopped; rerun to resume"


def _signal_self(signum):
  os.kill(os.getpid(), signum)
  time.sleep(5)  # the handler raises here, at the next Python instruction


class _ShapeThatMeetsCtrlC:
  """A shape whose second dimension is read when Ctrl-C arrives: numpy, converting it in C,
  raises a TypeError in place of the KeyboardInterrupt (as it did with a TensorShape in a search
  interrupted while it drew initial weights)."""

  def __len__(self):
    return 2

  def __getitem__(self, index):
    if index == 1:
      os.kill(os.getpid(), signal.SIGINT)
    if index >= 2:
      raise IndexError(index)
    return 3


def _draw_weights_meeting_ctrl_c():
  np.random.default_rng(0).uniform(size=_ShapeThatMeetsCtrlC())


def _bad_input():
  raise ValueError("--repeats must be an integer >= 1; got 0")


class RunCommandTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    for signum in (signal.SIGINT, signal.SIGTERM):  # run_command installs its own handlers
      self.addCleanup(signal.signal, signum, signal.getsignal(signum))

  def _exit(self, body):
    """(exit code or message, stderr) of `run_command(body)`."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), self.assertRaises(SystemExit) as stopped:
      _cli.run_command(body, ["binary"], interrupted=lambda: _LINE)
    return stopped.exception.code, stderr.getvalue()

  def test_ctrl_c_exits_130_with_the_line(self):
    self.assertEqual(self._exit(lambda: _signal_self(signal.SIGINT)), (130, _LINE + "\n"))

  def test_sigterm_exits_143_with_the_line(self):
    self.assertEqual(self._exit(lambda: _signal_self(signal.SIGTERM)), (143, _LINE + "\n"))

  def test_ctrl_c_that_library_code_turned_into_another_error_still_exits_130(self):
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own Ctrl-C
    with self.assertRaises(TypeError):  # is what numpy lets out, not a KeyboardInterrupt
      _draw_weights_meeting_ctrl_c()
    self.assertEqual(self._exit(_draw_weights_meeting_ctrl_c), (130, _LINE + "\n"))

  def test_bad_input_exits_with_its_message(self):
    code, stderr = self._exit(_bad_input)
    self.assertEqual(code, "error: --repeats must be an integer >= 1; got 0")
    self.assertEqual(stderr, "")

  def test_other_errors_keep_their_traceback(self):
    with self.assertRaises(ZeroDivisionError):
      _cli.run_command(lambda: 1 / 0, ["binary"])


if __name__ == "__main__":
  absltest.main()
