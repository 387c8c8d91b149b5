"""Agreement with indicator values the authors' PyTorch code gives for 10 DARTS genotypes.

Truth: shared/data/reference/darts_indicators_visible.csv (see its README, "DARTS space"). The
evaluate binary scores the same genotypes the same way (`--mode=score`, the DARTS CIFAR-10
search's sizes: NTK batch 14, 3 x 1000 region samples, 3 draws, on the same 2,000 CIFAR-10
images). PyTorch's random streams cannot be reproduced, so we compare what must agree exactly
(the ReLU units the region count records, the NTK parameters that get a gradient) and, for the
indicators, the range of the medians and the ranking of the published genotype.
"""

import csv
import os
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf

from tenas_tf.spaces import DartsGenotype
from tests import testing_utils

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = testing_utils.shared_dir()
REFERENCE = SHARED / "data" / "reference" / "darts_indicators_visible.csv"
TRAIN_NPZ = ",".join(str(SHARED / "data" / "cifar" / f"cifar10_train_{part}.npz")
                     for part in ("0000-0999", "1000-1999"))


def _read_csv(path):
  with open(path, newline="") as stream:
    return list(csv.DictReader(stream))


class DartsReferenceAgreementTest(tf.test.TestCase):

  def test_scores_agree_with_reference(self):
    # One test method: the binary run is the expensive part (minutes on a CPU), and a test runner
    # that spreads a class's methods over processes would repeat a shared setup.
    if not REFERENCE.exists():
      self.skipTest(f"shared reference data absent: {REFERENCE}")
    reference = _read_csv(REFERENCE)
    tmp = self.enter_context(tempfile.TemporaryDirectory())
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.run(
        [sys.executable, "-m", "tenas_tf.launch.evaluate", "--mode=score",
         "--flagfile=launch/darts_cifar10.flags", f"--archs={REFERENCE}",
         f"--data_npz={TRAIN_NPZ}", f"--run_dir={tmp}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    self.assertEqual(process.returncode, 0, process.stderr[-3000:])
    ours = _read_csv(os.path.join(tmp, "scores.csv"))
    self.assertTrue(os.path.exists(os.path.join(tmp, "evaluate.flags")))

    with self.subTest("rows follow the input"):
      self.assertEqual([row["name"] for row in ours], [row["name"] for row in reference])
      for row, reference_row in zip(ours, reference):
        self.assertEqual(DartsGenotype.from_json(row["genotype_json"]),
                         DartsGenotype.from_json(reference_row["genotype_json"]))

    with self.subTest("hooked units and parameters with gradient equal the reference's"):
      for column in ("lr_hooked_units", "params_with_grad"):
        self.assertEqual([int(row[column]) for row in ours],
                         [int(row[column]) for row in reference], column)

    with self.subTest("indicator medians sit in the reference's range"):
      ours_kappa = np.array([float(row["ntk_cond_median"]) for row in ours])
      ref_kappa = np.array([float(row["ntk_cond_median"]) for row in reference])
      ours_lr = np.array([float(row["lr_median"]) for row in ours])
      ref_lr = np.array([float(row["lr_median"]) for row in reference])
      self.assertTrue(np.all(np.isfinite(ours_kappa)) and np.all(ours_kappa > 0))
      # Within a row, the reference's draws spread by about 0.2 in log10 kappa (median).
      self.assertLess(abs(np.median(np.log10(ours_kappa)) - np.median(np.log10(ref_kappa))),
                      0.3)
      self.assertLess(abs(np.median(ours_lr) / np.median(ref_lr) - 1.0), 0.15)
      self.assertTrue(np.all(ours_lr <= 3000))

    with self.subTest("the published CIFAR-10 genotype ranks among the best 3"):
      # The reference ranks TENAS_cifar10 first on both indicators of these 10 rows.
      rank_sums = {row["name"]: int(row["rank_sum"]) for row in ours}
      self.assertLessEqual(rank_sums["TENAS_cifar10"], sorted(rank_sums.values())[2], rank_sums)


if __name__ == "__main__":
  tf.test.main()
