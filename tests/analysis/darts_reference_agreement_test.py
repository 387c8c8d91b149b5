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
import unittest

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

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    if not REFERENCE.exists():
      raise unittest.SkipTest(f"shared reference data absent: {REFERENCE}")
    cls.reference = _read_csv(REFERENCE)
    cls.tmp = tempfile.TemporaryDirectory()
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    cls.process = subprocess.run(
        [sys.executable, "-m", "tenas_tf.launch.evaluate", "--mode=score",
         "--flagfile=launch/darts_cifar10.flags", f"--archs={REFERENCE}",
         f"--data_npz={TRAIN_NPZ}", f"--run_dir={cls.tmp.name}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    cls.ours = (_read_csv(os.path.join(cls.tmp.name, "scores.csv"))
                if cls.process.returncode == 0 else None)

  @classmethod
  def tearDownClass(cls):
    cls.tmp.cleanup()
    super().tearDownClass()

  def setUp(self):
    super().setUp()
    self.assertEqual(self.process.returncode, 0, self.process.stderr[-3000:])

  def test_rows_follow_the_input(self):
    self.assertEqual([row["name"] for row in self.ours], [row["name"] for row in self.reference])
    for ours, reference in zip(self.ours, self.reference):
      self.assertEqual(DartsGenotype.from_json(ours["genotype_json"]),
                       DartsGenotype.from_json(reference["genotype_json"]))
    self.assertTrue(os.path.exists(os.path.join(self.tmp.name, "evaluate.flags")))

  def test_hooked_units_and_parameters_with_gradient_equal_reference(self):
    for ours, reference in zip(self.ours, self.reference):
      self.assertEqual(int(ours["lr_hooked_units"]), int(reference["lr_hooked_units"]),
                       reference["name"])
      self.assertEqual(int(ours["params_with_grad"]), int(reference["params_with_grad"]),
                       reference["name"])

  def test_indicator_medians_sit_in_the_reference_range(self):
    ours_kappa = np.array([float(row["ntk_cond_median"]) for row in self.ours])
    ref_kappa = np.array([float(row["ntk_cond_median"]) for row in self.reference])
    ours_lr = np.array([float(row["lr_median"]) for row in self.ours])
    ref_lr = np.array([float(row["lr_median"]) for row in self.reference])
    self.assertTrue(np.all(np.isfinite(ours_kappa)) and np.all(ours_kappa > 0))
    # Within a row, the reference's draws spread by about 0.2 in log10 kappa (median).
    self.assertLess(abs(np.median(np.log10(ours_kappa)) - np.median(np.log10(ref_kappa))), 0.3)
    self.assertLess(abs(np.median(ours_lr) / np.median(ref_lr) - 1.0), 0.15)
    self.assertTrue(np.all(ours_lr <= 3000))

  def test_published_cifar10_genotype_ranks_among_the_best(self):
    # The reference ranks TENAS_cifar10 first on both indicators of these 10 rows.
    rank_sums = {row["name"]: int(row["rank_sum"]) for row in self.ours}
    best_three = sorted(rank_sums.values())[2]
    self.assertLessEqual(rank_sums["TENAS_cifar10"], best_three, rank_sums)


if __name__ == "__main__":
  tf.test.main()
