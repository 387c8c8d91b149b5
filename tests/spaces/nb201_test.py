"""Tests of NB201 arch strings and alive masks: every benchmark cell round-trips."""

import csv
import re

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from tenas_tf import spaces
from tests import testing_utils

_CSV = testing_utils.shared_dir() / "data" / "nb201" / "nb201_accuracies.csv"
_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
_BEST_C10 = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
             "|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
_WITH_NONE = "|skip_connect~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|skip_connect~1|none~2|"


def _benchmark_arch_strings():
  with open(_CSV, newline="", encoding="utf-8") as f:
    return [row["arch_str"] for row in csv.DictReader(f)]


class ArchStringTest(parameterized.TestCase, tf.test.TestCase):

  def test_op_vocabulary(self):
    self.assertEqual(spaces.NB201_OPS, _OPS)

  def test_parse_known_cell(self):
    genotype = spaces.NB201Genotype.from_string(_BEST_C10)
    # Edge order 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2.
    self.assertEqual(genotype.ops, ("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3",
                                    "skip_connect", "nor_conv_3x3", "nor_conv_1x1"))
    self.assertEqual(genotype.to_string(), _BEST_C10)
    self.assertEqual(str(genotype), _BEST_C10)

  def test_genotype_is_an_immutable_hashable_value(self):
    a = spaces.NB201Genotype.from_string(_WITH_NONE)
    b = spaces.NB201Genotype(tuple(a.ops))
    self.assertEqual(a, b)
    self.assertEqual(hash(a), hash(b))
    self.assertNotEqual(a, spaces.NB201Genotype.from_string(_BEST_C10))
    with self.assertRaises(AttributeError):
      a.ops = ("none",) * 6  # frozen dataclass

  def test_round_trip_of_every_benchmark_cell(self):
    if not _CSV.exists():
      self.skipTest(f"NB201 benchmark table not found at {_CSV}")
    arch_strings = _benchmark_arch_strings()
    self.assertLen(arch_strings, 15_625)
    self.assertLen(set(arch_strings), 15_625)
    genotypes = set()
    for arch_str in arch_strings:
      genotype = spaces.NB201Genotype.from_string(arch_str)
      self.assertEqual(genotype.to_string(), arch_str)
      mask = genotype.alive_mask()
      self.assertEqual(mask.shape, (1, 6, 5))
      self.assertEqual(spaces.NB201Genotype.from_mask(mask), genotype)
      genotypes.add(genotype)
    # 5^6 cells: the table is the whole space.
    self.assertLen(genotypes, 5**6)

  # Each pattern names the offending piece as the message's own text, not just the echoed input
  # (the message also quotes the whole string and the expected form).
  @parameterized.named_parameters(
      ("missing_leading_bar", "nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|",
       re.escape("'nor_conv_3x3~0|'")),
      ("missing_trailing_bar", "|nor_conv_3x3~0+|none~0|none~1|+|none~0|none~1|none~2|",
       re.escape("'|nor_conv_3x3~0'")),
      ("missing_inner_bar", "|nor_conv_3x3~0|+|none~0none~1|+|none~0|none~1|none~2|",
       "node 2"),
      ("wrong_index_first_group", "|nor_conv_3x3~2|+|none~0|none~1|+|none~0|none~1|none~2|",
       "'nor_conv_3x3~2'"),
      ("swapped_indices", "|none~0|+|none~1|none~0|+|none~0|none~1|none~2|", "'none~1'"),
      ("missing_tilde", "|none|+|none~0|none~1|+|none~0|none~1|none~2|", "edge 'none'"),
      ("unknown_op", "|conv3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "'conv3x3'"),
      ("two_groups", "|none~0|+|none~0|none~1|", r"[^~]2\b.*group"),
      ("four_groups", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|",
       r"[^~]4\b.*group"),
      ("too_many_inputs", "|none~0|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1"),
      ("empty", "", r"''.*[^~]1\b.*group"),
  )
  def test_malformed_string_is_rejected_naming_the_fault(self, arch_str, pattern):
    with self.assertRaisesRegex(ValueError, pattern):
      spaces.NB201Genotype.from_string(arch_str)

  @parameterized.parameters((None,), (3,), (b"|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",),
                            (("none",) * 6,))
  def test_non_string_is_rejected(self, value):
    with self.assertRaisesRegex(TypeError, type(value).__name__):
      spaces.NB201Genotype.from_string(value)

  def test_invalid_ops_tuple_is_rejected(self):
    with self.assertRaisesRegex(ValueError, "conv3x3"):
      spaces.NB201Genotype(("conv3x3",) + ("none",) * 5)
    with self.assertRaisesRegex(ValueError, "6"):
      spaces.NB201Genotype(("none",) * 5)


class MaskTest(parameterized.TestCase, tf.test.TestCase):

  def test_initial_mask(self):
    mask = spaces.nb201_initial_mask()
    self.assertEqual(mask.shape, (1, 6, 5))
    self.assertEqual(mask.dtype, bool)
    self.assertFalse(np.any(mask[..., 0]))
    self.assertTrue(np.all(mask[..., 1:]))

  @parameterized.parameters(_BEST_C10, _WITH_NONE)
  def test_alive_mask_keeps_exactly_the_genotype_ops(self, arch_str):
    genotype = spaces.NB201Genotype.from_string(arch_str)
    mask = genotype.alive_mask()
    self.assertAllEqual(mask.sum(axis=-1), np.ones((1, 6)))
    for edge, op in enumerate(genotype.ops):
      self.assertTrue(mask[0, edge, _OPS.index(op)])
    self.assertEqual(spaces.NB201Genotype.from_mask(mask), genotype)
    self.assertEqual(spaces.NB201Genotype.from_mask(mask[0]), genotype)

  def test_from_mask_with_two_alive_ops_on_an_edge_raises(self):
    mask = spaces.NB201Genotype.from_string(_BEST_C10).alive_mask()
    mask[0, 4, _OPS.index("avg_pool_3x3")] = True
    with self.assertRaisesRegex(ValueError, r"\[1, 1, 1, 1, 2, 1\]"):
      spaces.NB201Genotype.from_mask(mask)

  def test_from_mask_with_an_empty_edge_raises(self):
    mask = spaces.NB201Genotype.from_string(_BEST_C10).alive_mask()
    mask[0, 2] = False
    with self.assertRaisesRegex(ValueError, r"\[1, 1, 0, 1, 1, 1\]"):
      spaces.NB201Genotype.from_mask(mask)

  def test_from_initial_mask_raises(self):
    with self.assertRaises(ValueError):
      spaces.NB201Genotype.from_mask(spaces.nb201_initial_mask())

  def test_built_ops_of(self):
    mask = spaces.NB201Genotype.from_string(_WITH_NONE).alive_mask()
    self.assertEqual(spaces.built_ops_of(mask),
                     [["skip_connect"], ["none"], ["avg_pool_3x3"], ["nor_conv_3x3"],
                      ["skip_connect"], ["none"]])
    self.assertEqual(spaces.built_ops_of(spaces.nb201_initial_mask()), [list(_OPS[1:])] * 6)


if __name__ == "__main__":
  tf.test.main()
