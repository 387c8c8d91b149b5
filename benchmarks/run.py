r"""The benchmark suite: indicator timings, peak memory and whole searches, per search space.

  python benchmarks/run.py --json=/tmp/bench.json          # both spaces, paper settings
  python benchmarks/run.py --only=nb201 --skip_search      # the indicators of one space
  python benchmarks/run.py --smoke --json=/tmp/smoke.json  # tiny sizes: checks the suite works

Per space (`suite_config`: NB201 batch 72, DARTS batch 14, 3 x 1000 linear-region samples, on
the real CIFAR-10 images of ../shared/data/cifar):
  ntk_first_s        the first kappa_NTK call of a fresh process (tracing included)
  ntk_s              a warm kappa_NTK, every op alive (minimum of --repeats calls)
  ntk_single_path_s  a warm kappa_NTK with one op per edge
  lr_first_s, lr_s   the first and a warm #LR count, every op alive
  peak_rss_mb        peak resident memory of a process that built the networks and scored once
  load_average       1, 5, 15 minute load averages after the warm calls
  search_s           a whole search, reference batch mode (a fresh batch per candidate)
  search_common_s    a whole search with --common_batches (left out, with search_s, by
                     --skip_search)
  search_peak_rss_mb, search_common_peak_rss_mb
                     peak resident memory of each whole search's process
Every measurement runs in its own fresh process (`measure.py`), so first calls include tracing,
memory figures are per process, and on a GPU no two processes hold the device at once. The
figures are printed as a table and, with --json, written with the machine they ran on. A
benchmark, not a test: the full suite takes an hour or more on a 2-core CPU.
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile

from absl import app
from absl import flags

import machine
import suite_config

_HERE = pathlib.Path(__file__).resolve().parent
_ONLY = flags.DEFINE_enum("only", None, list(suite_config.PAPER), "Benchmark one space only.")
_JSON = flags.DEFINE_string("json", None, "Also write the figures to this JSON file.")
_SKIP_SEARCH = flags.DEFINE_bool("skip_search", False, "Leave out the two whole searches.")
_SMOKE = flags.DEFINE_bool(
    "smoke", False, "Tiny sizes and two ops per edge (suite_config.SMOKE): a two-minute check "
    "that the suite runs end to end; its figures mean nothing.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Warm calls per indicator figure (the minimum is "
                                "reported); 2 with --smoke.", lower_bound=1)
_DATA_NPZ = flags.DEFINE_list("data_npz", list(suite_config.CIFAR10_NPZ),
                              "CIFAR-10 .npz files (uint8 images 'x').")

_COLUMNS = (("ntk_first_s", "NTK first s", "{:.2f}"), ("ntk_s", "NTK s", "{:.3f}"),
            ("ntk_single_path_s", "NTK single path s", "{:.3f}"),
            ("lr_first_s", "#LR first s", "{:.2f}"), ("lr_s", "#LR s", "{:.3f}"),
            ("peak_rss_mb", "peak RSS MB", "{:.0f}"), ("search_s", "search s", "{:.1f}"),
            ("search_peak_rss_mb", "search peak RSS MB", "{:.0f}"),
            ("search_common_s", "search common s", "{:.1f}"),
            ("search_common_peak_rss_mb", "search common peak RSS MB", "{:.0f}"))


def _measure(job, space, *args):
  """Runs `measure.py --job=job --space=space *args` in a fresh process; its figures."""
  with tempfile.TemporaryDirectory(prefix="tenas_benchmark_") as folder:
    out = os.path.join(folder, "figures.json")
    command = [sys.executable, str(_HERE / "measure.py"), f"--job={job}", f"--space={space}",
               f"--smoke={_SMOKE.value}", f"--data_npz={','.join(_DATA_NPZ.value)}",
               f"--out={out}", *args]
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    completed = subprocess.run(command, env=env, check=False)
    if completed.returncode != 0:
      raise SystemExit(f"{' '.join(command)} failed with exit status {completed.returncode}")
    with open(out) as stream:
      return json.load(stream)


def benchmark_space(space):
  """The figures of one space (keys as in the module docstring), with its settings."""
  repeats = 2 if _SMOKE.value else _REPEATS.value
  figures = _measure("indicators", space, f"--repeats={repeats}")
  if not _SKIP_SEARCH.value:
    for mode, suffix in (("reference", ""), ("common", "_common")):
      searched = _measure("search", space, f"--mode={mode}")
      figures[f"search{suffix}_s"] = searched["search_s"]
      figures[f"search{suffix}_peak_rss_mb"] = searched["search_peak_rss_mb"]
  figures["settings"] = suite_config.benchmark_of(space, _SMOKE.value).to_json()
  return figures


def table(results):
  """A markdown table of `results` ({space: figures}), one row per space."""
  columns = [c for c in _COLUMNS if any(c[0] in f for f in results.values())]
  lines = ["| space | " + " | ".join(title for _, title, _ in columns) + " | load |",
           "|---|" + "---:|" * (len(columns) + 1)]
  for space, figures in results.items():
    cells = [form.format(figures[key]) if key in figures else "" for key, _, form in columns]
    load = "/".join(f"{value:.1f}" for value in figures["load_average"])
    lines.append(f"| {space} | " + " | ".join(cells) + f" | {load} |")
  return "\n".join(lines)


def main(argv):
  del argv
  names = [_ONLY.value] if _ONLY.value else list(suite_config.PAPER)
  results = {space: benchmark_space(space) for space in names}
  report = {"machine": machine.describe(), "smoke": _SMOKE.value, **results}
  about = report["machine"]
  print(f"\n{about['cpu']}, {about['cores']} cores, GPUs {about['gpus'] or 'none'}, "
        f"TensorFlow {about['tensorflow']}{'; SMOKE sizes' if _SMOKE.value else ''}\n")
  print(table(results))
  if _JSON.value:
    with open(_JSON.value, "w") as stream:
      json.dump(report, stream, indent=2)
      stream.write("\n")
    print(f"\nwrote {_JSON.value}")


if __name__ == "__main__":
  app.run(main)
