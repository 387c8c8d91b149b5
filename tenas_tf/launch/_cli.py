"""What every tenas_tf binary does around its work: help, argument check, logging, user errors,
interrupts.

Ctrl-C (SIGINT) and SIGTERM stop a binary between two statements of Python: what is finished is
on disk already (run files are written atomically after each step), so the binary prints one line
saying so and that rerunning the same command resumes, and exits 130 / 143 without a traceback.
The signal is recorded when it arrives, because its exception does not always reach the binary as
itself: C code running at that moment can turn it into another (numpy, converting a Python
sequence, raises a TypeError in place of the KeyboardInterrupt it met).
"""

import logging as std_logging
import signal
import sys

from absl import app
from absl import flags
from absl import logging


class _Terminated(BaseException):
  """SIGTERM, raised in the main thread as KeyboardInterrupt is for SIGINT (a BaseException, so
  that no `except Exception` of library code takes it for an error)."""


def _resume_hint():
  return "interrupted; what was finished is saved: rerun the same command to resume"


def run_command(body, argv, interrupted=_resume_hint):
  """Runs `body()` as a binary's main.

  Bad input (ValueError) exits 1 with its message; SIGINT and SIGTERM exit 130 and 143 with the
  line `interrupted()` returns, whatever exception the signal became on its way out; neither
  prints a traceback.
  """
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  std_logging.getLogger("tenas_tf").setLevel(std_logging.INFO)
  received = []  # the signal that stops the binary, once one has arrived

  def stop(signum, frame):
    del frame
    received.append(signum)
    raise KeyboardInterrupt() if signum == signal.SIGINT else _Terminated()

  signal.signal(signal.SIGINT, stop)
  signal.signal(signal.SIGTERM, stop)
  try:
    body()
  except (Exception, KeyboardInterrupt, _Terminated) as error:  # pylint: disable=broad-except
    if received or isinstance(error, KeyboardInterrupt):
      print(interrupted(), file=sys.stderr, flush=True)
      sys.exit(128 + (received[0] if received else signal.SIGINT))
    if isinstance(error, ValueError):
      logging.debug("user error", exc_info=True)
      sys.exit(f"error: {error}")
    raise


def run(main, holders):
  """Runs `main` under absl with `holders` as the key flags that `--help` lists.

  absl's `--help` lists the key flags of the program it runs (`sys.argv[0]`): the binary's module
  under `python -m`, a wrapper script for a console script. Registering them for that name covers
  both, so `--help` shows the binary's own flags and not TensorFlow's.
  """
  for holder in holders:
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[holder.name])
  app.run(main)
