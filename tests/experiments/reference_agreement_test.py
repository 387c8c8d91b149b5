"""Agreement with indicator values computed by the authors' PyTorch code on 30 NB201 cells.

Truth: shared/data/reference/nb201_indicators_visible.csv (see its README). PyTorch's random
streams cannot be reproduced, so we compare what must agree: the ReLU units hooked per sample
(exact), and with the same sizes, init, preprocessing, 3 draws and real CIFAR-10 images, the
ranking of the cells (Kendall tau) and the range of the medians.
"""

import csv

import numpy as np
import tensorflow as tf

from tenas_tf import data as data_lib
from tenas_tf import indicators
from tenas_tf.experiments import correlation
from tenas_tf.experiments import evaluation
from tenas_tf.spaces import NB201Genotype, built_ops_of, linear_region_network, registry
from tests import testing_utils

SHARED = testing_utils.shared_dir()
REFERENCE = SHARED / "data" / "reference" / "nb201_indicators_visible.csv"
TRAIN_NPZ = [str(SHARED / "data" / "cifar" / f"cifar10_train_{part}.npz")
             for part in ("0000-0999", "1000-1999")]


def _reference_rows():
  with open(REFERENCE, newline="") as stream:
    return list(csv.DictReader(stream))


class ReferenceAgreementTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    if not REFERENCE.exists():
      raise __import__("unittest").SkipTest(f"shared reference data absent: {REFERENCE}")
    cls.rows = _reference_rows()
    cls.masks = [NB201Genotype.from_string(r["arch_str"]).alive_mask() for r in cls.rows]

  def test_hooked_relu_units_equal_reference(self):
    samples = tf.zeros([4, 3, 3, 1])
    for row, mask in zip(self.rows, self.masks):
      # The physically pruned thin net: only the cell's ops exist, so every ReLU it has is hooked.
      net = linear_region_network(10, built_ops=built_ops_of(mask))
      units = indicators.relu_sign_patterns(net, samples).shape[1]
      self.assertEqual(units, int(row["lr_hooked_units"]), row["arch_str"])

  def test_indicator_medians_rank_cells_like_reference(self):
    images = data_lib.load_images("cifar10", data_npz=TRAIN_NPZ)
    config = evaluation.IndicatorConfig(
        space="nb201", dataset="cifar10", data_source="npz", draws=3, batch_size=72,
        lr_batch_size=1000, lr_batches=3, seed=0, init="pytorch_default")
    ntk, regions = evaluation.score_cells_of(config, self.masks, images)
    ours_kappa, ours_lr = np.median(ntk, axis=1), np.median(regions, axis=1)
    ref_kappa = np.array([float(r["ntk_cond_median"]) for r in self.rows])
    ref_lr = np.array([float(r["lr_median"]) for r in self.rows])
    self.assertTrue(np.all(np.isfinite(ours_kappa)) and np.all(ours_kappa > 0))
    # The reference's own single draws agree with each other at tau ~0.45 (kappa), ~0.65 (#LR).
    self.assertGreaterEqual(correlation.kendall_tau(ours_kappa, ref_kappa), 0.4)
    self.assertGreaterEqual(correlation.kendall_tau(ours_lr, ref_lr), 0.55)
    self.assertLess(abs(np.median(np.log10(ours_kappa)) - np.median(np.log10(ref_kappa))), 0.3)
    self.assertLess(abs(np.median(ours_lr) / np.median(ref_lr) - 1.0), 0.15)


if __name__ == "__main__":
  tf.test.main()
