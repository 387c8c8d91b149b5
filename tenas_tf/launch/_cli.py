"""What every tenas_tf binary does around its work: help, argument check, logging, user errors."""

import logging as std_logging
import sys

from absl import app
from absl import flags
from absl import logging


def run_command(body, argv):
  """Runs `body()` as a binary's main: bad input (ValueError) exits 1 with its message, no traceback."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  std_logging.getLogger("tenas_tf").setLevel(std_logging.INFO)
  try:
    body()
  except ValueError as error:
    logging.debug("user error", exc_info=True)
    sys.exit(f"error: {error}")


def run(main, holders):
  """Runs `main` under absl with `holders` as the key flags that `--help` lists.

  absl's `--help` lists the key flags of the program it runs (`sys.argv[0]`): the binary's module
  under `python -m`, a wrapper script for a console script. Registering them for that name covers
  both, so `--help` shows the binary's own flags and not TensorFlow's.
  """
  for holder in holders:
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[holder.name])
  app.run(main)
