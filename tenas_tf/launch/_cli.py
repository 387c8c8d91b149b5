"""What every tenas_tf binary does around its work: help, argument check, logging, user errors,
interrupts.

Ctrl-C (SIGINT) and SIGTERM stop a binary between two statements of Python: what is finished is
on disk already (run files are written atomically after each step), so the binary prints one line
saying so and that rerunning the same command resumes, and exits 130 / 143 without a traceback.
"""

import logging as std_logging
import signal
import sys

from absl import app
from absl import flags
from absl import logging


class _Terminated(Exception):
  """SIGTERM, raised in the main thread like KeyboardInterrupt for SIGINT."""


def _terminate(signum, frame):
  del signum, frame
  raise _Terminated()


def _resume_hint():
  return "interrupted; what was finished is saved: rerun the same command to resume"


def run_command(body, argv, interrupted=_resume_hint):
  """Runs `body()` as a binary's main.

  Bad input (ValueError) exits 1 with its message; SIGINT and SIGTERM exit 130 and 143 with the
  line `interrupted()` returns; neither prints a traceback.
  """
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  std_logging.getLogger("tenas_tf").setLevel(std_logging.INFO)
  signal.signal(signal.SIGTERM, _terminate)
  try:
    body()
  except ValueError as error:
    logging.debug("user error", exc_info=True)
    sys.exit(f"error: {error}")
  except KeyboardInterrupt:
    print(interrupted(), file=sys.stderr, flush=True)
    sys.exit(128 + signal.SIGINT)
  except _Terminated:
    print(interrupted(), file=sys.stderr, flush=True)
    sys.exit(128 + signal.SIGTERM)


def run(main, holders):
  """Runs `main` under absl with `holders` as the key flags that `--help` lists.

  absl's `--help` lists the key flags of the program it runs (`sys.argv[0]`): the binary's module
  under `python -m`, a wrapper script for a console script. Registering them for that name covers
  both, so `--help` shows the binary's own flags and not TensorFlow's.
  """
  for holder in holders:
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[holder.name])
  app.run(main)
