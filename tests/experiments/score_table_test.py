"""The score mode's pieces: reading cells of either space, and the pruned networks' sizes."""

import csv
import os
import tempfile

from absl.testing import parameterized
import tensorflow as tf

from tenas_tf import data as data_lib
from tenas_tf import search
from tenas_tf.experiments import score_table
from tenas_tf.spaces import TENAS_CIFAR10, TENAS_IMAGENET, NB201Genotype, registry

_POOL_CELL = "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|none~1|skip_connect~2|"
_ONE_CONV_CELL = ("|avg_pool_3x3~0|+|skip_connect~0|none~1|+"
                  "|nor_conv_3x3~0|none~1|skip_connect~2|")


def _write(folder, header, rows):
  path = os.path.join(folder, "cells.csv")
  with open(path, "w", newline="") as stream:
    writer = csv.writer(stream)
    writer.writerow(header)
    writer.writerows(rows)
  return path


class LoadGenotypesTest(parameterized.TestCase, tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = self.enter_context(tempfile.TemporaryDirectory())

  def test_darts_cells_with_names(self):
    rows = [["TENAS_cifar10", score_table.genotype_text(TENAS_CIFAR10), 1.0],
            ["TENAS_imagenet", score_table.genotype_text(TENAS_IMAGENET), 2.0]]
    path = _write(self.tmp, ["name", "genotype_json", "other"], rows)
    genotypes, names = score_table.load_genotypes(path, registry.get_space("darts"))
    self.assertEqual(genotypes, [TENAS_CIFAR10, TENAS_IMAGENET])
    self.assertEqual(names, ["TENAS_cifar10", "TENAS_imagenet"])

  def test_nb201_cells_without_names(self):
    path = _write(self.tmp, ["arch_str"], [[_POOL_CELL], [_ONE_CONV_CELL]])
    genotypes, names = score_table.load_genotypes(path, registry.get_space("nb201"))
    self.assertEqual([g.to_string() for g in genotypes], [_POOL_CELL, _ONE_CONV_CELL])
    self.assertIsNone(names)
    self.assertEqual(score_table.genotype_text(genotypes[0]), _POOL_CELL)

  def test_compact_json_text(self):
    text = score_table.genotype_text(TENAS_CIFAR10)
    self.assertStartsWith(text, '{"normal":[["dil_conv_3x3",0],["sep_conv_5x5",1],')
    self.assertNotIn(" ", text)

  @parameterized.named_parameters(
      ("wrong_column", ["arch_str"], [[_POOL_CELL]], "needs a 'genotype_json' column"),
      ("bad_row", ["genotype_json"], [[score_table.genotype_text(TENAS_CIFAR10)], ["{}"]],
       "line 3: DARTS genotype JSON must be an object with exactly the keys"),
      ("no_rows", ["genotype_json"], [], "lists no cell"))
  def test_bad_files_are_rejected(self, header, rows, message):
    path = _write(self.tmp, header, rows)
    with self.assertRaisesRegex(ValueError, message):
      score_table.load_genotypes(path, registry.get_space("darts"))

  def test_missing_file_is_rejected(self):
    with self.assertRaisesRegex(ValueError, "does not exist"):
      score_table.load_genotypes(os.path.join(self.tmp, "absent.csv"),
                                 registry.get_space("nb201"))


class PrunedNetworkSizesTest(tf.test.TestCase):

  def test_nb201_sizes_by_hand(self):
    space, info = registry.get_space("nb201"), data_lib.dataset_info("cifar10")
    # Outside the cells: stem 81 + 3, ResNet blocks (162 + 6 + 324 + 6 + 18) and
    # (648 + 12 + 1296 + 12 + 72), head BN 12 and dense 120: 2,772 NTK parameters.
    hooked, params = search.pruned_network_sizes(
        space, NB201Genotype.from_string(_POOL_CELL).alive_mask(), info.num_classes, (32, 32, 3))
    self.assertEqual((hooked, params), (9, 2772))  # only the final ReLU (3x3x1) in the thin net
    # One nor_conv_3x3 per cell adds its kernel and gamma: C = 3, 6, 12.
    hooked, params = search.pruned_network_sizes(
        space, NB201Genotype.from_string(_ONE_CONV_CELL).alive_mask(), info.num_classes,
        (32, 32, 3))
    self.assertEqual((hooked, params), (18, 2772 + (81 + 3) + (324 + 6) + (1296 + 12)))


if __name__ == "__main__":
  tf.test.main()
