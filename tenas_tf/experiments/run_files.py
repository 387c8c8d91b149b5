"""The files of a run directory, written atomically so a killed run never leaves half a file."""

import json
import os
import tempfile


def write_atomic(path, text):
  """Writes `text` to `path` via a temporary file in the same folder and a rename."""
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
  try:
    with os.fdopen(handle, "w") as stream:
      stream.write(text)
      stream.flush()
      os.fsync(stream.fileno())
    os.replace(temporary, path)
  except BaseException:
    if os.path.exists(temporary):
      os.remove(temporary)
    raise


def write_json(path, value):
  write_atomic(path, json.dumps(value, indent=2, sort_keys=False) + "\n")


def read_json(path):
  with open(path) as stream:
    return json.load(stream)


def check_writable(run_dir):
  """Creates `run_dir` if needed; raises ValueError naming it when it cannot be written."""
  try:
    os.makedirs(run_dir, exist_ok=True)
    handle, probe = tempfile.mkstemp(dir=run_dir, prefix=".probe-")
    os.close(handle)
    os.remove(probe)
  except OSError as error:
    raise ValueError(f"run_dir {run_dir!r} is not a writable directory: {error}") from error
