"""The evaluate binary end to end (correlation and seeds modes) and its input errors."""

import csv
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf
from absl import flags
from absl.testing import absltest
from absl.testing import flagsaver

from tenas_tf.experiments import correlation
from tenas_tf.launch import evaluate
from tenas_tf.search import ranking
from tenas_tf.spaces import NB201_OPS, NB201Genotype
from tests import testing_utils

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = testing_utils.shared_dir()
REFERENCE = SHARED / "data" / "reference" / "nb201_indicators_visible.csv"
TABLE = SHARED / "data" / "nb201" / "nb201_accuracies.csv"
TRAIN_NPZ = SHARED / "data" / "cifar" / "cifar10_train_0000-0999.npz"
# A cell whose input is cut off from its output (10 % on CIFAR-10): kappa is not finite.
DEGENERATE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"
FAST = ["--ntk_batch_size=4", "--lr_batch_size=40", "--lr_batches=1"]
ACCURACY_COLUMNS = ["cifar10_test_acc", "cifar100_test_acc", "imagenet16_test_acc"]


def _run_binary(*args):
  env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
  return subprocess.run([sys.executable, "-m", "tenas_tf.launch.evaluate", *args], cwd=REPO,
                        env=env, capture_output=True, text=True, timeout=600)


def _read_csv(path):
  with open(path, newline="") as stream:
    return list(csv.DictReader(stream))


def _files(folder):
  """{relative path: bytes} of every file under `folder`."""
  found = {}
  for root, _, names in os.walk(folder):
    for name in names:
      with open(os.path.join(root, name), "rb") as stream:
        found[os.path.relpath(os.path.join(root, name), folder)] = stream.read()
  return found


def _read_strict_json(path):
  def refuse(constant):
    raise ValueError(f"{path} holds {constant}, which is not JSON")
  with open(path) as stream:
    return json.load(stream, parse_constant=refuse)


def _write_fake_table(path, seed=0):
  """All 15,625 NB201 cells with random accuracies (a stand-in for the real table)."""
  rng = np.random.default_rng(seed)
  with open(path, "w", newline="") as stream:
    writer = csv.writer(stream)
    writer.writerow(["arch_index", "arch_str"] + ACCURACY_COLUMNS)
    for index, ops in enumerate(itertools.product(NB201_OPS, repeat=6)):
      writer.writerow([index, NB201Genotype(ops).to_string()]
                      + [f"{v:.4f}" for v in rng.uniform(10, 95, size=3)])


def _expected_correlations(rows):
  """Kendall tau of -log kappa, #LR and -rank sum against each accuracy, from CSV rows."""
  kappa = np.array([float(r["ntk_cond_median"]) for r in rows])
  regions = np.array([float(r["lr_median"]) for r in rows])
  ntk = np.nan_to_num(-np.log(kappa), neginf=-1e300)  # kappa = inf: below every finite one
  _, kappa_rank = ranking.dense_ranks(kappa.tolist(), descending=False)
  _, lr_rank = ranking.dense_ranks(regions.tolist(), descending=True)
  combined = -(np.array(kappa_rank) + np.array(lr_rank))
  return {column: {name: correlation.kendall_tau(values, [float(r[column]) for r in rows])
                   for name, values in (("ntk", ntk), ("lr", regions), ("combined", combined))}
          for column in ACCURACY_COLUMNS}


class CorrelationModeTest(absltest.TestCase):

  def test_scores_reference_cells_and_writes_csv_json_and_plots(self):
    if not (REFERENCE.exists() and TRAIN_NPZ.exists()):
      self.skipTest(f"shared reference data absent: {REFERENCE}")
    tmp = self.enter_context(tempfile.TemporaryDirectory())
    cells = [row["arch_str"] for row in _read_csv(REFERENCE)[:4]] + [DEGENERATE]
    archs = os.path.join(tmp, "cells.csv")
    with open(archs, "w") as stream:
      stream.write("arch_str\n" + "\n".join(cells) + "\n")
    run_dir = os.path.join(tmp, "run")
    process = _run_binary("--mode=correlation", f"--archs={archs}", f"--nb201_table={TABLE}",
                          "--dataset=cifar10", f"--data_npz={TRAIN_NPZ}", "--draws=1", *FAST,
                          f"--run_dir={run_dir}")
    self.assertEqual(process.returncode, 0, process.stderr[-3000:])

    rows = _read_csv(os.path.join(run_dir, "correlation.csv"))
    self.assertEqual(list(rows[0]), ["arch_str", "ntk_cond_1", "ntk_cond_median", "lr_1",
                                     "lr_median"] + ACCURACY_COLUMNS
                     + ["ntk_rank", "lr_rank", "rank_sum"])
    self.assertEqual([r["arch_str"] for r in rows], cells)
    with open(TABLE, newline="") as stream:
      table = {r["arch_str"]: r for r in csv.DictReader(stream)}
    for row in rows:
      for column in ACCURACY_COLUMNS:
        self.assertEqual(float(row[column]), float(table[row["arch_str"]][column]))
    self.assertEqual(rows[-1]["ntk_cond_1"], "inf")  # degenerate: ranks last, not NaN
    self.assertEqual(int(rows[-1]["ntk_rank"]), max(int(r["ntk_rank"]) for r in rows))

    summary = _read_strict_json(os.path.join(run_dir, "correlation.json"))
    self.assertEqual(summary["non_finite_kappa"][0]["arch_str"], DEGENERATE)
    keys = dict(zip(ACCURACY_COLUMNS, ("cifar10", "cifar100", "imagenet16")))
    for subset, subset_rows in (("all", rows), ("non_degenerate", rows[:4])):
      block = summary["correlations"][subset]
      self.assertEqual(block["cells"], len(subset_rows))
      for column, expected in _expected_correlations(subset_rows).items():
        for indicator, tau in expected.items():
          self.assertAlmostEqual(block[keys[column]][indicator]["kendall_tau"], tau, places=12,
                                 msg=f"{subset} {column} {indicator}")
    # One draw: the draw alone is the median.
    self.assertEqual(summary["single_draw_kendall_tau"],
                     [{indicator: summary["correlations"]["non_degenerate"]["cifar10"][indicator]
                       ["kendall_tau"] for indicator in ("ntk", "lr", "combined")}])
    for name in ("correlation.csv", "correlation.json", "evaluate.flags"):
      with open(os.path.join(run_dir, name)) as stream:
        self.assertIsNone(re.search(r"\bnan\b", stream.read(), re.IGNORECASE), name)
    for name in summary["plots"].values():
      with open(os.path.join(run_dir, name), "rb") as stream:
        content = stream.read()
      self.assertTrue(content.startswith(b"\x89PNG\r\n\x1a\n"), name)
      self.assertEqual(tf.io.decode_png(content).shape[-1], 4)
    self.assertIn("Kendall tau / Spearman rho, non-degenerate cells (4)", process.stdout)
    self.assertIn("draw 1 alone, CIFAR-10 tau, non-degenerate cells: ntk ", process.stdout)


class SeedsModeTest(absltest.TestCase):

  def test_one_search_per_seed_and_the_summary_table(self):
    tmp = self.enter_context(tempfile.TemporaryDirectory())
    table = os.path.join(tmp, "table.csv")
    _write_fake_table(table)
    run_dir = os.path.join(tmp, "run")
    process = _run_binary("--mode=seeds", "--seeds=3,1", f"--nb201_table={table}",
                          "--dataset=synthetic", "--synthetic_count=32", *FAST, "--repeats=1",
                          "--prune_number=3", "--common_batches", f"--run_dir={run_dir}")
    self.assertEqual(process.returncode, 0, process.stderr[-3000:])

    study = _read_strict_json(os.path.join(run_dir, "seeds.json"))
    self.assertEqual([s["seed"] for s in study["seeds"]], [3, 1])
    with open(table, newline="") as stream:
      accuracies = {r["arch_str"]: r for r in csv.DictReader(stream)}
    per_dataset = {"cifar10": [], "cifar100": [], "imagenet16": []}
    for entry in study["seeds"]:
      result = _read_strict_json(os.path.join(run_dir, f"seed_{entry['seed']}", "result.json"))
      self.assertEqual(result["seed"], entry["seed"])
      self.assertEqual(entry["genotype"], result["genotype"])
      self.assertEqual(entry["seconds"], result["seconds"])
      for dataset, column in zip(per_dataset, ACCURACY_COLUMNS):
        self.assertEqual(entry["accuracies"][dataset],
                         float(accuracies[entry["genotype"]][column]))
        per_dataset[dataset].append(entry["accuracies"][dataset])
    for dataset, values in per_dataset.items():
      stats = study["summary"]["accuracies"][dataset]
      self.assertAlmostEqual(stats["mean"], np.mean(values), places=12)
      self.assertAlmostEqual(stats["std"], np.std(values), places=12)
    self.assertAlmostEqual(study["summary"]["seconds"]["mean"],
                           np.mean([s["seconds"] for s in study["seeds"]]), places=12)
    with open(os.path.join(run_dir, "seeds.md")) as stream:
      markdown = stream.read()
    self.assertIn("| 3 | `", markdown)
    self.assertIn("| **mean ± std** |", markdown)
    self.assertIn(f"{np.mean(per_dataset['cifar10']):.2f} ± "
                  f"{np.std(per_dataset['cifar10']):.2f}", markdown)

    # Another setting is refused before any seed's search runs: every file stays as it was,
    # evaluate.flags included (it still reruns the study that is there).
    before = _files(run_dir)
    self.assertIn("--repeats=1", before["evaluate.flags"].decode().splitlines())
    refused = _run_binary("--mode=seeds", "--seeds=3,1,2", f"--nb201_table={table}",
                          "--dataset=synthetic", "--synthetic_count=32", *FAST, "--repeats=2",
                          "--prune_number=3", "--common_batches", f"--run_dir={run_dir}")
    self.assertEqual(refused.returncode, 1, refused.stderr[-3000:])
    self.assertIn("holds a search with another configuration", refused.stderr)
    self.assertIn("settings.repeats: 1 in the run, 2 now", refused.stderr)
    self.assertEqual(_files(run_dir), before)


class BadInputTest(absltest.TestCase):
  """Errors end in `sys.exit("error: ...")`; checked in-process (fast), plus two real exits."""

  def setUp(self):
    super().setUp()
    self.tmp = self.enter_context(tempfile.TemporaryDirectory())
    self.table = os.path.join(self.tmp, "table.csv")
    with open(self.table, "w") as stream:
      stream.write(",".join(["arch_str"] + ACCURACY_COLUMNS) + "\n")
      stream.write(f"{DEGENERATE},10.0,1.0,0.8\n")

  def _error(self, *args):
    """The message of a refused evaluation: absl's for a flag value it checks, else main's."""
    argv = ["evaluate", f"--run_dir={os.path.join(self.tmp, 'run')}", *args]
    with flagsaver.flagsaver():
      try:
        flags.FLAGS(argv)
      except flags.Error as error:
        return f"flags: {error}"
      with self.assertRaises(SystemExit) as caught:
        evaluate.main(argv[:1])
    return str(caught.exception.code)

  def _archs(self, name, header, *rows):
    path = os.path.join(self.tmp, name)
    with open(path, "w") as stream:
      stream.write("\n".join([header, *rows]) + "\n")
    return path

  def test_messages_name_the_bad_value(self):
    table = f"--nb201_table={self.table}"
    no_column = self._archs("no_column.csv", "cell", DEGENERATE)
    malformed = self._archs("bad.csv", "arch_str", DEGENERATE, "|nor_conv_3x3~1|")
    cases = [
        ([], r"--mode must be one of \('correlation', 'seeds', 'score'\); got None"),
        (["--mode=correlation", table], r"exactly one of --archs .* got --archs=None and "
                                        r"--num_archs=None"),
        (["--mode=correlation", table, "--num_archs=2", "--archs=a.csv"],
         r"exactly one of --archs .* got --archs='a.csv' and --num_archs=2"),
        (["--mode=correlation", table, "--num_archs=1"],
         r"^flags: flag --num_archs=1: 1 is not integer >= 2"),
        (["--mode=correlation", "--num_archs=3", table],
         r"num_archs must be an int between 2 and the table's 1 cells; got 3"),
        (["--mode=correlation", "--num_archs=2"], r"--nb201_table is required"),
        (["--mode=correlation", "--num_archs=2", "--nb201_table=/no/table.csv"],
         r"nb201_table '/no/table.csv' does not exist"),
        (["--mode=correlation", table, "--archs=/no/archs.csv"],
         r"archs file '/no/archs.csv' does not exist"),
        (["--mode=correlation", table, f"--archs={no_column}"],
         r"has no 'arch_str' column; its columns are \['cell'\]"),
        (["--mode=correlation", table, f"--archs={malformed}"],
         r"archs file '.*bad.csv' line 3: malformed NB201 arch string '\|nor_conv_3x3~1\|'"),
        (["--mode=seeds", "--seeds=0,x"], r"seeds must be ints; got 'x'"),
        (["--mode=seeds"], r"seeds must list at least one int seed"),
        (["--mode=score"], r"--mode=score needs --archs, a CSV file with a 'arch_str' column"),
        (["--mode=score", "--space=darts", f"--archs={malformed}"],
         r"archs file '.*bad.csv' needs a 'genotype_json' column for the darts space"),
        (["--mode=score", "--space=nas", f"--archs={malformed}"],
         r"^flags: flag --space=nas: value should be one of <nb201\|darts>"),
        (["--mode=score", "--draws=0"], r"^flags: flag --draws=0: 0 is not a positive integer"),
    ]
    for args, pattern in cases:
      with self.subTest(args=args):
        message = self._error(*args)
        self.assertTrue(message.startswith(("error: ", "flags: ")), message)
        self.assertRegex(message, pattern)

  def test_the_process_exits_nonzero_without_traceback(self):
    process = _run_binary("--mode=sideways", f"--run_dir={self.tmp}")
    self.assertNotEqual(process.returncode, 0)
    self.assertIn("--mode=sideways", process.stderr)
    self.assertIn("correlation|seeds", process.stderr)
    self.assertNotIn("Traceback", process.stderr)
    archs = self._archs("bad.csv", "arch_str", DEGENERATE, "|bad|")
    process = _run_binary("--mode=correlation", f"--archs={archs}",
                          f"--nb201_table={self.table}", f"--run_dir={self.tmp}")
    self.assertEqual(process.returncode, 1)
    self.assertRegex(process.stderr, r"error: archs file .* line 3: malformed")
    self.assertNotIn("Traceback", process.stderr)


if __name__ == "__main__":
  absltest.main()
