"""The correlation and seed-study helpers on hand-made cells, tables and results."""

import csv
import math
import os
import tempfile

import numpy as np
import tensorflow as tf
from absl.testing import absltest

from tenas_tf.experiments import correlation
from tenas_tf.experiments import evaluation
from tenas_tf.experiments import plots
from tenas_tf.experiments import seed_study

CELLS = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
         "nor_conv_1x1~2|",
         "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|"
         "skip_connect~2|",
         "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|",
         "|skip_connect~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|skip_connect~1|none~2|"]
# CIFAR-10, CIFAR-100, ImageNet16-120 accuracies; the third cell is degenerate (10 %).
TABLE = {cell: dict(zip(("cifar10", "cifar100", "imagenet16"), acc)) for cell, acc in zip(
    CELLS, [(94.37, 73.5, 41.4), (85.9, 52.9, 26.6), (10.0, 1.0, 0.8), (91.9, 66.8, 39.9)])}


def _write_csv(folder, name, header, rows):
  path = os.path.join(folder, name)
  with open(path, "w", newline="") as stream:
    writer = csv.writer(stream)
    writer.writerow(header)
    writer.writerows(rows)
  return path


class ArchStringsTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = self.enter_context(tempfile.TemporaryDirectory())

  def test_reads_the_arch_str_column_in_order(self):
    path = _write_csv(self.tmp, "a.csv", ["pos", "arch_str"], [[0, CELLS[1]], [1, CELLS[0]]])
    self.assertEqual(evaluation.load_arch_strings(path, TABLE), [CELLS[1], CELLS[0]])

  def test_bad_files_are_named(self):
    with self.assertRaisesRegex(ValueError, r"archs file '.*nope.csv' does not exist"):
      evaluation.load_arch_strings(os.path.join(self.tmp, "nope.csv"), TABLE)
    path = _write_csv(self.tmp, "b.csv", ["arch"], [[CELLS[0]]])
    with self.assertRaisesRegex(ValueError, r"has no 'arch_str' column; its columns are "
                                            r"\['arch'\]"):
      evaluation.load_arch_strings(path, TABLE)
    path = _write_csv(self.tmp, "c.csv", ["arch_str"], [[CELLS[0]], ["|conv~0|+|x|"]])
    with self.assertRaisesRegex(ValueError, r"line 3: malformed NB201 arch string '\|conv~0"):
      evaluation.load_arch_strings(path, TABLE)
    unknown = CELLS[0].replace("skip_connect~0", "avg_pool_3x3~0")
    path = _write_csv(self.tmp, "d.csv", ["arch_str"], [[CELLS[0]], [unknown]])
    with self.assertRaisesRegex(ValueError, r"line 3: arch string .* is not in the nb201_table"):
      evaluation.load_arch_strings(path, TABLE)
    path = _write_csv(self.tmp, "e.csv", ["arch_str"], [[CELLS[0]]])
    with self.assertRaisesRegex(ValueError, r"at least 2 cells to correlate; got 1"):
      evaluation.load_arch_strings(path, TABLE)

  def test_sample_is_seeded_distinct_and_checked(self):
    first = evaluation.sample_arch_strings(TABLE, 3, seed=4)
    self.assertEqual(first, evaluation.sample_arch_strings(TABLE, 3, seed=4))
    self.assertLen(set(first), 3)
    self.assertTrue(set(first) <= set(TABLE))
    with self.assertRaisesRegex(ValueError, r"num_archs must be an int between 2 and the "
                                            r"table's 4 cells; got 1"):
      evaluation.sample_arch_strings(TABLE, 1, seed=0)
    with self.assertRaisesRegex(ValueError, r"got 5"):
      evaluation.sample_arch_strings(TABLE, 5, seed=0)


class CorrelationTest(absltest.TestCase):

  def _rows(self, ntk, regions):
    return evaluation.cell_rows(CELLS, np.array(ntk, float), np.array(regions, float), TABLE)

  def test_rows_hold_draws_medians_accuracies_and_ranks(self):
    rows = self._rows([[10, 30, 20], [400, 100, 300], [np.nan, np.inf, np.inf], [50, 60, 70]],
                      [[30, 31, 32], [20, 21, 22], [5, 5, 6], [25, 26, 27]])
    self.assertEqual(list(rows[0]), [
        "arch_str", "ntk_cond_1", "ntk_cond_2", "ntk_cond_3", "ntk_cond_median", "lr_1", "lr_2",
        "lr_3", "lr_median", "cifar10_test_acc", "cifar100_test_acc", "imagenet16_test_acc",
        "ntk_rank", "lr_rank", "rank_sum"])
    self.assertEqual([r["ntk_cond_median"] for r in rows], [20.0, 300.0, math.inf, 60.0])
    self.assertEqual(rows[2]["ntk_cond_1"], math.inf)  # NaN kernel: written as inf
    self.assertEqual([r["lr_median"] for r in rows], [31, 21, 5, 26])
    # kappa ranks 0, 2, 3, 1; region ranks 0, 2, 3, 1.
    self.assertEqual([r["rank_sum"] for r in rows], [0, 4, 6, 2])
    self.assertEqual(rows[0]["cifar100_test_acc"], 73.5)

  def test_infinite_kappa_is_worst_and_subset_is_reranked(self):
    # Perfectly ordered with CIFAR-10: best cell 0, then 3, then 1, then the degenerate 2.
    rows = self._rows([[10], [300], [np.inf], [60]], [[31], [21], [5], [26]])
    result = evaluation.correlations(rows)
    self.assertEqual(result["cells"], 4)
    for indicator in evaluation.INDICATORS:
      self.assertEqual(result["cifar10"][indicator]["kendall_tau"], 1.0)
      self.assertEqual(result["cifar10"][indicator]["spearman_rho"], 1.0)
    values = evaluation.indicator_values(rows)
    self.assertLess(values["ntk"][2], min(values["ntk"][[0, 1, 3]]))
    subset = [row for row in rows if not evaluation.is_degenerate(row)]
    self.assertLen(subset, 3)
    # Within the subset the rank sums are 0, 4, 2: minus them correlates like the full set.
    self.assertEqual(evaluation.indicator_values(subset)["combined"].tolist(), [0, -4, -2])

  def test_matches_kendall_tau_of_the_values_and_gives_none_when_undefined(self):
    rows = self._rows([[10], [300], [20], [60]], [[5], [5], [5], [5]])
    result = evaluation.correlations(rows)
    accuracy = [TABLE[c]["cifar100"] for c in CELLS]
    self.assertEqual(result["cifar100"]["ntk"]["kendall_tau"],
                     correlation.kendall_tau(-np.log([10, 300, 20, 60]), accuracy))
    self.assertIsNone(result["cifar10"]["lr"]["kendall_tau"])  # constant #LR
    one = evaluation.correlations(rows[:1])
    self.assertIsNone(one["imagenet16"]["combined"]["spearman_rho"])
    text = evaluation.format_table({"correlations": {"all": result, "non_degenerate": one}})
    self.assertIn("n/a", text)
    self.assertNotIn("nan", text)

  def test_single_draw_taus_correlate_each_draw_by_itself(self):
    ntk = [[10, 500, 20], [400, 100, 300], [np.inf, np.inf, np.inf], [50, 60, 700]]
    regions = [[30, 10, 32], [20, 21, 22], [5, 5, 6], [25, 26, 27]]
    rows = self._rows(ntk, regions)
    accuracy = [TABLE[c]["cifar10"] for c in CELLS]
    taus = evaluation.single_draw_taus(rows, 3)
    self.assertLen(taus, 3)
    # Draw 2 by hand: kappa 500, 100, inf, 60 -> ranks 2, 1, 3, 0; regions 10, 21, 5, 26 ->
    # ranks 2, 1, 3, 0; rank sums 4, 2, 6, 0.
    self.assertEqual(taus[1]["ntk"], correlation.kendall_tau([-2, -1, -3, 0], accuracy))
    self.assertEqual(taus[1]["lr"], correlation.kendall_tau([10, 21, 5, 26], accuracy))
    self.assertEqual(taus[1]["combined"], correlation.kendall_tau([-4, -2, -6, 0], accuracy))
    for draw in range(3):
      self.assertEqual(taus[draw]["lr"],
                       correlation.kendall_tau([r[draw] for r in regions], accuracy))


class SeedStudyTest(absltest.TestCase):

  def test_summary_equals_numpy_and_skips_missing_accuracies(self):
    per_seed = [
        {"seed": 0, "genotype": CELLS[0], "seconds": 10.0, "accuracies": TABLE[CELLS[0]]},
        {"seed": 1, "genotype": CELLS[1], "seconds": 14.0, "accuracies": TABLE[CELLS[1]]},
        {"seed": 2, "genotype": CELLS[3], "seconds": 12.5, "accuracies": None}]
    summary = seed_study.summarize(per_seed)
    for dataset in ("cifar10", "cifar100", "imagenet16"):
      values = [TABLE[CELLS[0]][dataset], TABLE[CELLS[1]][dataset]]
      self.assertEqual(summary["accuracies"][dataset],
                       {"mean": np.mean(values), "std": np.std(values), "count": 2})
    self.assertEqual(summary["seconds"]["mean"], np.mean([10.0, 14.0, 12.5]))
    study = {"seeds": per_seed, "summary": summary, "devices": ["CPU"],
             "config": {"dataset": "cifar10", "data_source": "tfds", "batch_size": 72,
                        "lr_batch_size": 1000,
                        "settings": {"lr_batches_per_count": 3, "repeats": 3, "prune_number": 1,
                                     "init": "pytorch_default", "common_batches": False}}}
    text = seed_study.markdown_table(study)
    self.assertIn(r"`\|nor_conv_3x3~0\|+\|", text)  # pipes escaped inside the table
    self.assertIn(f"{np.mean([94.37, 85.9]):.2f} ± {np.std([94.37, 85.9]):.2f}", text)
    self.assertIn("| 2 | ", text)
    self.assertIn("n/a", text)

  def test_seeds_are_checked(self):
    self.assertEqual(seed_study.check_seeds(["0", " 3", 7]), [0, 3, 7])
    with self.assertRaisesRegex(ValueError, r"seeds must be ints; got 'a' in \['0', 'a'\]"):
      seed_study.check_seeds(["0", "a"])
    with self.assertRaisesRegex(ValueError, r"seeds must be distinct; got \[1, 1\]"):
      seed_study.check_seeds([1, 1])
    with self.assertRaisesRegex(ValueError, r"at least one int seed; got \[\]"):
      seed_study.check_seeds([])


class PlotTest(absltest.TestCase):

  def test_scatter_with_infinite_values_is_a_valid_png(self):
    tmp = self.enter_context(tempfile.TemporaryDirectory())
    path = plots.indicator_scatter(os.path.join(tmp, "s.png"), [1.0, 2.5, np.inf, 2.0],
                                   [90.0, 80.0, 10.0, 85.0], xlabel="x", ylabel="y", title="t")
    with open(path, "rb") as stream:
      content = stream.read()
    self.assertTrue(content.startswith(b"\x89PNG\r\n\x1a\n"))
    self.assertEqual(tf.io.decode_png(content).shape, (400, 500, 4))
    with self.assertRaisesRegex(ValueError, r"one length; got shapes \(2,\) and \(3,\)"):
      plots.indicator_scatter(path, [1, 2], [1, 2, 3], xlabel="x", ylabel="y")


if __name__ == "__main__":
  absltest.main()
