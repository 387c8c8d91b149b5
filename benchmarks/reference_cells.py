r"""Writes the NB201 cells the reference indicator values were measured on, as an `--archs` CSV.

  python benchmarks/reference_cells.py --out=/tmp/reference_cells.csv
  python -m tenas_tf.launch.evaluate --mode=correlation --archs=/tmp/reference_cells.csv \
      --flagfile=launch/nb201_cifar10.flags --data_npz=... --nb201_table=...

The correlation targets of the evaluation issue (-kappa >= 0.50, #LR >= 0.55, combined >= 0.65)
were measured with the authors' code on 100 non-degenerate cells, of which only 30 are published
(shared/data/reference). Its README gives the seeded draw that picked them, so this script redraws
the same 100 (and the 20 degenerate ones) and checks that the first 30 are the published ones:
scoring exactly those cells compares tenas_tf with the reference on equal terms, without the
spread that a different sample of cells adds to Kendall tau.
"""

import csv
import os
import pathlib
import tempfile

from absl import app
from absl import flags
import numpy as np

from tenas_tf.experiments import evaluation

_SHARED = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"
_TABLE = flags.DEFINE_string("nb201_table", str(_SHARED / "nb201" / "nb201_accuracies.csv"),
                             "NB201 accuracy table (shared/data/nb201).")
_VISIBLE = flags.DEFINE_string(
    "visible", str(_SHARED / "reference" / "nb201_indicators_visible.csv"),
    "The published reference rows, to check the redraw against.")
_OUT = flags.DEFINE_string("out", "/tmp/reference_cells.csv", "CSV file to write.")
_DEGENERATE = flags.DEFINE_bool("degenerate", False,
                                "Also write the 20 degenerate cells (sample positions 100..119).")
# The reference README's draw ("Which cells").
_SAMPLE_SEED = 20261125
_NON_DEGENERATE_CELLS = 100
_DEGENERATE_CELLS = 20


def reference_sample(table_rows):
  """(position, arch_index, arch_str) of the reference's 120 cells, in sample order."""
  rows = sorted(table_rows, key=lambda row: int(row["arch_index"]))
  accuracy = np.array([float(row["cifar10_test_acc"]) for row in rows])
  non_degenerate = np.flatnonzero(accuracy > evaluation.DEGENERATE_ACCURACY)
  degenerate = np.flatnonzero(accuracy <= evaluation.DEGENERATE_ACCURACY)
  rng = np.random.default_rng(_SAMPLE_SEED)
  picked = np.concatenate([rng.choice(non_degenerate, _NON_DEGENERATE_CELLS, replace=False),
                           rng.choice(degenerate, _DEGENERATE_CELLS, replace=False)])
  return [(pos, int(rows[i]["arch_index"]), rows[i]["arch_str"]) for pos, i in enumerate(picked)]


def main(argv):
  del argv
  with open(_TABLE.value, newline="") as stream:
    sample = reference_sample(list(csv.DictReader(stream)))
  with open(_VISIBLE.value, newline="") as stream:
    visible = [(int(row["sample_pos"]), row["arch_str"]) for row in csv.DictReader(stream)]
  redrawn = {pos: arch_str for pos, _, arch_str in sample}
  mismatched = [pos for pos, arch_str in visible if redrawn.get(pos) != arch_str]
  if mismatched:
    raise SystemExit(f"the redraw differs from the published rows at positions {mismatched}")
  if not _DEGENERATE.value:
    sample = sample[:_NON_DEGENERATE_CELLS]
  directory = os.path.dirname(os.path.abspath(_OUT.value))
  with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, newline="") as stream:
    writer = csv.writer(stream)
    writer.writerow(["sample_pos", "arch_index", "arch_str"])
    writer.writerows(sample)
  os.replace(stream.name, _OUT.value)
  print(f"wrote {len(sample)} cells ({len(visible)} checked against {_VISIBLE.value}) to "
        f"{_OUT.value}")


if __name__ == "__main__":
  app.run(main)
