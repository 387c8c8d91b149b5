"""The files of a run directory: written atomically, read back with errors a user can act on.

Every run directory says what kind of run wrote it in `run.json` ({"kind": "search"}, ...), written
before anything else, so a later step (export, a resume) reads the kind instead of guessing it
from which files happen to exist. Files are written through a temporary file and a rename, so a
killed run never leaves half a file; they get the permissions the umask allows, like any other
file the user creates.
"""

import json
import os
import tempfile

from tenas_tf import checks

RUN_FILE = "run.json"
# The kinds of run directory, by the run that writes it.
SEARCH = "search"
TRAINING = "training"
CORRELATION = "correlation"
SEEDS = "seeds"
SCORES = "scores"
EXPORT = "export"
KINDS = (SEARCH, TRAINING, CORRELATION, SEEDS, SCORES, EXPORT)


def _umask():
  mask = os.umask(0)
  os.umask(mask)
  return mask


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
    os.chmod(temporary, 0o666 & ~_umask())  # mkstemp creates 0600 whatever the umask
    os.replace(temporary, path)
  except BaseException:
    if os.path.exists(temporary):
      os.remove(temporary)
    raise


def write_json(path, value):
  write_atomic(path, json.dumps(value, indent=2, sort_keys=False) + "\n")


def read_json(path):
  """The JSON object in `path`; a ValueError naming the file and what to do if it is damaged.

  Raises:
    ValueError: the file cannot be read, is not JSON (e.g. truncated by a full disk) or holds
      something other than a JSON object.
  """
  advice = ("delete it to redo that part of the run, or start over in a new run directory")
  try:
    with open(path) as stream:
      value = json.load(stream)
  except UnicodeDecodeError:
    raise ValueError(f"{path} is not a text file: it is corrupt; {advice}") from None
  except json.JSONDecodeError as error:
    raise ValueError(f"{path} is not valid JSON ({error.msg} at line {error.lineno}, column "
                     f"{error.colno}): it is truncated or corrupt; {advice}") from None
  except OSError as error:
    raise ValueError(f"{path} cannot be read ({error.strerror})") from None
  if not isinstance(value, dict):
    raise ValueError(f"{path} holds a JSON {type(value).__name__}, not the object a run writes: "
                     f"it is corrupt; {advice}")
  return value


def differences(saved, current, prefix=""):
  """The keys whose values differ between two JSON objects, as "key: saved -> current" text.

  Nested objects are compared key by key ("settings.seed: 0 -> 1"), so a refused rerun says
  which setting changed instead of printing both configurations.
  """
  saved = saved if isinstance(saved, dict) else {}
  lines = []
  for key in sorted(set(saved) | set(current)):
    old, new = saved.get(key, "<absent>"), current.get(key, "<absent>")
    if isinstance(old, dict) and isinstance(new, dict):
      nested = differences(old, new, f"{prefix}{key}.")
      lines.extend([nested] if nested else [])
    elif old != new:
      lines.append(f"{prefix}{key}: {old!r} in the run, {new!r} now")
  return "; ".join(lines)


def check_writable(run_dir, name="run_dir"):
  """Raises ValueError naming `run_dir` (as `name`) when it cannot be a directory to write in.

  Nothing is created: a run that is refused later leaves no empty folder behind.
  """
  existing = os.path.abspath(run_dir)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    what = "it" if existing == os.path.abspath(run_dir) else repr(existing)
    raise ValueError(f"{name} {run_dir!r} is not a writable directory: {what} is a file")
  if not os.access(existing, os.W_OK | os.X_OK):
    raise ValueError(f"{name} {run_dir!r} is not a writable directory: {existing!r} cannot be "
                     f"written")


def start_run(run_dir, kind):
  """Makes `run_dir` a run directory of `kind`; refuses one another kind of run wrote.

  Returns:
    True if `run_dir` already held a run of this kind (a rerun: resume or reuse it).

  Raises:
    ValueError: `run_dir` cannot be written, or holds another kind of run.
  """
  checks.one_of("kind", kind, KINDS)
  found = run_kind(run_dir)
  if found is not None and found != kind:
    raise ValueError(f"run_dir {run_dir!r} holds a {found} run, not a {kind} run; use a new "
                     f"run directory")
  check_writable(run_dir)
  if found is None:
    write_json(os.path.join(run_dir, RUN_FILE), {"kind": kind})
  return found is not None


def run_kind(run_dir):
  """The kind of run `run_dir` holds (`KINDS`), or None where it holds no run.

  Raises:
    ValueError: `run.json` is damaged or names an unknown kind.
  """
  path = os.path.join(run_dir, RUN_FILE)
  if not os.path.isfile(path):
    return None
  kind = read_json(path).get("kind")
  if kind not in KINDS:
    raise ValueError(f"{path} names an unknown kind of run {kind!r}; expected one of {KINDS}")
  return kind
