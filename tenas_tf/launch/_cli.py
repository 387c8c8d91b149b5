"""What every tenas_tf binary's `main` does around its work: argument check, logging, user errors."""

import logging as std_logging
import sys

from absl import app
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
