"""What a long run shows while it works: a bar with an ETA on a terminal, plain lines in a log.

A search spends its first candidate tracing the indicator networks (tens of seconds on a CPU,
once per process) and then scores tens to hundreds of candidates per round. `SearchProgress` is
the `progress` callback of `run_search`: on a terminal it draws one tqdm bar per round (done /
total, elapsed, ETA); when the output is a file or a pipe it writes a plain line every
`interval_s` seconds and at the end of each round, never a carriage return, so a log stays one
line per report. `search_summary` is the short report at the end.
"""

import os
import sys
import time

import tqdm

from tenas_tf import spaces
from tenas_tf.experiments import run_files
from tenas_tf.experiments import search_run


def _is_terminal(stream):
  return hasattr(stream, "isatty") and stream.isatty()


def _duration(seconds):
  seconds = int(round(seconds))
  if seconds < 60:
    return f"{seconds} s"
  minutes, seconds = divmod(seconds, 60)
  if minutes < 60:
    return f"{minutes} min {seconds:02d} s"
  hours, minutes = divmod(minutes, 60)
  return f"{hours} h {minutes:02d} min"


class SearchProgress:
  """The `progress(round_index, done, total)` callback of a search, shown to a person.

  Args:
    stream: where to write (default: standard error).
    interval_s: seconds between plain lines when `stream` is not a terminal.
    terminal: force the terminal (True) or the plain (False) form; default: `stream.isatty()`.
    label: round key -> its name in the bar and the lines ("round 2"; an evaluation passes
      e.g. "cells x draws", or "seed 3 round 1" for a key (3, 1)).
  """

  def __init__(self, stream=None, interval_s=10.0, terminal=None,
               label=lambda key: f"round {key}"):
    self._label = label
    self._stream = stream if stream is not None else sys.stderr
    self._interval_s = interval_s
    self._terminal = _is_terminal(self._stream) if terminal is None else terminal
    self._traced = False
    self._begin = None
    self._bar = None
    self._round = None
    self._round_start = None
    self._first_done_at = None
    self._last_line = None

  def _write(self, line):
    if self._bar is not None:
      self._bar.write(line, file=self._stream)
    else:
      self._stream.write(line + "\n")
      self._stream.flush()

  def begin(self):
    """Says that the indicator networks are being built and traced (once per process)."""
    self._begin = time.monotonic()
    self._write("building and tracing the indicator networks (once per process; the first "
                "candidate includes it) ...")

  def __call__(self, round_index, done, total):
    now = time.monotonic()
    if not self._traced:
      self._traced = True
      since = self._begin if self._begin is not None else now
      self._write(f"indicator networks traced; first candidate scored after "
                  f"{now - since:.1f} s")
    if round_index != self._round:
      self._start_round(round_index, total, now)
    if done == 1:
      self._first_done_at = now
    if self._bar is not None:
      self._bar.update(done - self._bar.n)
      if done == total:
        self._bar.close()
        self._bar = None
    elif done == total or now - self._last_line >= self._interval_s:
      self._last_line = now
      self._write(self._line(round_index, done, total, now))

  def _start_round(self, round_index, total, now):
    if self._bar is not None:
      self._bar.close()
    self._round, self._round_start, self._last_line = round_index, now, now
    if self._terminal:
      self._bar = tqdm.tqdm(total=total, desc=self._label(round_index), unit="candidate",
                            file=self._stream, dynamic_ncols=True)

  def _line(self, round_index, done, total, now):
    elapsed = now - self._round_start
    name = self._label(round_index)
    if done == total:
      return f"{name}: {done}/{total} candidates in {_duration(elapsed)}"
    # The rate after the first candidate: the first may include tracing.
    if done > 1:
      rate = (now - self._first_done_at) / (done - 1)
    else:
      rate = elapsed
    return (f"{name}: candidate {done}/{total}, elapsed {_duration(elapsed)}, "
            f"ETA {_duration(rate * (total - done))}")

  def close(self):
    if self._bar is not None:
      self._bar.close()
      self._bar = None



def interrupted_line(run_dir):
  """The line a stopped search prints: the rounds saved in `run_dir` (read back from its state
  file, the ground truth), and that rerunning the same command resumes."""
  try:
    saved = len(run_files.read_json(os.path.join(run_dir, search_run.STATE_FILE))["rounds"])
  except (ValueError, KeyError, TypeError):  # no state yet (or none readable)
    saved = 0
  if not saved:
    return "interrupted before the first round finished; rerun the same command to start again"
  return (f"interrupted in round {saved} (rounds 0-{saved - 1} are saved in {run_dir}); rerun "
          f"the same command to resume")


def search_summary(result, run_dir):
  """The end-of-run report of a search: genotype, accuracies, time per round, the files.

  Args:
    result: the dict `run_search` returns (result.json).
    run_dir: the run directory.

  Returns:
    Text, one item per line.
  """
  space = spaces.get_space(result["config"]["space"])
  lines = [f"genotype: {space.genotype_from_json(result['genotype'])}"]
  for dataset, accuracy in (result.get("accuracies") or {}).items():
    lines.append(f"NB201 test accuracy, {dataset}: {accuracy:.2f} %")
  rounds = result["rounds"]
  per_round = ", ".join(f"{record['round']}: {_duration(record['seconds'])}"
                        for record in rounds)
  lines.append(f"search time: {_duration(result['seconds'])} in {len(rounds)} rounds "
               f"({per_round})")
  for warning in result["warnings"]:
    lines.append(f"warning: {warning}")
  files = ", ".join(name for name in sorted(os.listdir(run_dir)) if not name.startswith("."))
  lines.append(f"files in {run_dir}: {files}")
  return "\n".join(lines)
