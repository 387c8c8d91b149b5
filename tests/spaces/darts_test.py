"""Tests of DARTS cells as values: edge order, genotype text / JSON forms, masks, validation."""

import json

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from tenas_tf import indicators
from tenas_tf.spaces import darts
from tenas_tf.spaces import darts_supernet
from tenas_tf.spaces import DARTS_OPS, TENAS_CIFAR10, TENAS_IMAGENET, DartsGenotype

# The published genotypes in DARTS' own printed form (TE-NAS appendix), typed by hand.
_CIFAR10_TEXT = (
    "Genotype(normal=[('dil_conv_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 2), ('skip_connect', 0), ('dil_conv_5x5', 1), ('sep_conv_3x3', 1), "
    "('sep_conv_5x5', 3)], normal_concat=[2, 3, 4, 5], reduce=[('sep_conv_5x5', 0), "
    "('sep_conv_5x5', 1), ('sep_conv_5x5', 1), ('sep_conv_5x5', 2), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 3), ('sep_conv_5x5', 2), ('sep_conv_3x3', 4)], reduce_concat=[2, 3, 4, 5])")
_IMAGENET_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('dil_conv_5x5', 1), "
    "('sep_conv_3x3', 2), ('sep_conv_3x3', 0), ('dil_conv_5x5', 3), ('sep_conv_3x3', 0), "
    "('dil_conv_3x3', 4)], normal_concat=range(2, 6), reduce=[('dil_conv_3x3', 0), "
    "('sep_conv_5x5', 1), ('dil_conv_3x3', 0), ('sep_conv_3x3', 2), ('sep_conv_3x3', 0), "
    "('dil_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_5x5', 4)], reduce_concat=range(2, 6))")
_ALL_SKIP = [("skip_connect", 0), ("skip_connect", 1)] * 4


def _json(genotype, **changes):
  value = dict(genotype.to_json(), **changes)
  return json.dumps(value)


class EdgeOrderTest(tf.test.TestCase):

  def test_edges_are_sorted_keys(self):
    keys = [f"{node}<-{state}" for node, state in darts.EDGES]
    self.assertEqual(keys, ["0<-0", "0<-1", "1<-0", "1<-1", "1<-2", "2<-0", "2<-1", "2<-2",
                            "2<-3", "3<-0", "3<-1", "3<-2", "3<-3", "3<-4"])
    self.assertEqual(keys, sorted(keys))

  def test_node_groups(self):
    self.assertEqual(darts.NODE_EDGES, ((0, 2), (2, 5), (5, 9), (9, 14)))
    self.assertEqual(darts.edge_index(2, 3), 8)

  def test_initial_mask(self):
    mask = darts.initial_mask()
    self.assertEqual(mask.shape, (2, 14, 8))
    self.assertFalse(mask[..., DARTS_OPS.index("none")].any())
    self.assertEqual(int(mask.sum()), 2 * 14 * 7)


class TextAndJsonFormTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.named_parameters(("cifar10", TENAS_CIFAR10, _CIFAR10_TEXT),
                                  ("imagenet", TENAS_IMAGENET, _IMAGENET_TEXT))
  def test_published_genotypes_parse_print_and_reparse(self, constant, text):
    parsed = DartsGenotype.from_string(text)
    self.assertEqual(parsed, constant)
    printed = parsed.to_string()
    self.assertEqual(DartsGenotype.from_string(printed), parsed)
    self.assertEqual(printed.replace("range(2, 6)", "[2, 3, 4, 5]"),
                     text.replace("range(2, 6)", "[2, 3, 4, 5]"))
    self.assertEqual(str(parsed), printed)

  @parameterized.named_parameters(("cifar10", TENAS_CIFAR10), ("imagenet", TENAS_IMAGENET))
  def test_json_round_trip(self, genotype):
    value = genotype.to_json()
    self.assertEqual(sorted(value), ["normal", "normal_concat", "reduce", "reduce_concat"])
    self.assertEqual(value["normal_concat"], [2, 3, 4, 5])
    self.assertLen(value["normal"], 8)
    self.assertEqual(DartsGenotype.from_json(value), genotype)
    self.assertEqual(DartsGenotype.from_json(json.dumps(value)), genotype)

  def test_reference_json_row(self):
    # The form of shared/data/reference/darts_indicators_visible.csv.
    text = ('{"normal":[["sep_conv_3x3",0],["skip_connect",1],["sep_conv_5x5",0],'
            '["dil_conv_5x5",1],["dil_conv_3x3",1],["sep_conv_5x5",3],["avg_pool_3x3",0],'
            '["dil_conv_5x5",2]],"normal_concat":[2,3,4,5],"reduce":[["max_pool_3x3",0],'
            '["sep_conv_5x5",1],["dil_conv_5x5",1],["dil_conv_5x5",2],["dil_conv_3x3",1],'
            '["avg_pool_3x3",2],["dil_conv_5x5",0],["dil_conv_3x3",1]],"reduce_concat":[2,3,4,5]}')
    genotype = DartsGenotype.from_json(text)
    self.assertEqual(genotype.reduce[0], ("max_pool_3x3", 0))
    self.assertEqual(json.dumps(genotype.to_json(), separators=(",", ":")), text)

  def test_value_is_immutable_and_hashable(self):
    self.assertIsInstance(TENAS_CIFAR10.normal, tuple)
    self.assertEqual(len({TENAS_CIFAR10, DartsGenotype.from_string(_CIFAR10_TEXT)}), 1)
    with self.assertRaises(AttributeError):
      TENAS_CIFAR10.normal = ()

  @parameterized.named_parameters(
      ("not_a_call", "[('skip_connect', 0)]", "must be a call Genotype"),
      ("syntax", "Genotype(normal=[", "not a Python expression"),
      ("missing_field", "Genotype(normal=[], reduce=[])", "exactly the fields"),
      ("code", "Genotype(normal=__import__('os'), normal_concat=[2, 3, 4, 5], reduce=[], "
               "reduce_concat=[2, 3, 4, 5])", "is not a literal"))
  def test_malformed_text_is_rejected(self, text, message):
    with self.assertRaisesRegex(ValueError, message):
      DartsGenotype.from_string(text)

  @parameterized.named_parameters(
      ("bad_json", "{normal", "not valid JSON"),
      ("extra_key", _json(TENAS_CIFAR10, depth=2), "exactly the keys"),
      ("not_object", "[1, 2]", "exactly the keys"))
  def test_malformed_json_is_rejected(self, text, message):
    with self.assertRaisesRegex(ValueError, message):
      DartsGenotype.from_json(text)


class ValidationTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.named_parameters(
      ("seven_pairs", _ALL_SKIP[:7], "normal must list 8"),
      ("unknown_op", [("conv_3x3", 0)] + _ALL_SKIP[1:],
       r"normal pair 0: op must be one of \('skip_connect'.*got 'conv_3x3'"),
      ("none_op", [("none", 0)] + _ALL_SKIP[1:], "normal pair 0: op must be one of"),
      ("input_out_of_range", _ALL_SKIP[:2] + [("skip_connect", 0), ("skip_connect", 3)]
       + _ALL_SKIP[4:], r"normal pair 3 feeds node 1, whose input must be in \[0, 2\].*; got 3"),
      ("negative_input", [("skip_connect", -1)] + _ALL_SKIP[1:], "got -1"),
      ("same_input_twice", _ALL_SKIP[:4] + [("skip_connect", 2), ("max_pool_3x3", 2)]
       + _ALL_SKIP[6:], "normal node 2 .* needs two distinct inputs; got input 2 twice"),
      ("pair_not_a_pair", [("skip_connect", 0, 1)] + _ALL_SKIP[1:], "pair 0 must be"),
      ("float_input", [("skip_connect", 0.0)] + _ALL_SKIP[1:], "pair 0 must be"))
  def test_bad_normal_cell(self, normal, message):
    with self.assertRaisesRegex(ValueError, message):
      DartsGenotype(normal=normal, reduce=_ALL_SKIP)

  def test_bad_concat(self):
    with self.assertRaisesRegex(ValueError, r"reduce_concat must be \[2, 3, 4, 5\].*got \[2, 3\]"):
      DartsGenotype(normal=_ALL_SKIP, reduce=_ALL_SKIP, reduce_concat=[2, 3])

  def test_bad_cell_type_name(self):
    with self.assertRaisesRegex(ValueError, r"cell_type must be one of \('normal', 'reduce'\)"):
      TENAS_CIFAR10.cell("reduction")


class MaskTest(parameterized.TestCase, tf.test.TestCase):

  def _hand_built_mask(self):
    """Inputs and ops chosen by hand, independently of the genotype code."""
    mask = np.zeros((2, 14, 8), bool)
    # normal: node 0 <- 0 max_pool, 1 sep3; node 1 <- 0 skip, 2 dil5; node 2 <- 1 avg, 3 sep5;
    # node 3 <- 2 dil3, 4 skip. Edge indices from the sorted keys, op columns from DARTS_OPS.
    for edge, op in ((0, "max_pool_3x3"), (1, "sep_conv_3x3"), (2, "skip_connect"),
                     (4, "dil_conv_5x5"), (6, "avg_pool_3x3"), (8, "sep_conv_5x5"),
                     (11, "dil_conv_3x3"), (13, "skip_connect")):
      mask[0, edge, DARTS_OPS.index(op)] = True
    # reduce: every node keeps inputs 0 and 1 with sep_conv_3x3 and max_pool_3x3.
    for edge in (0, 2, 5, 9):
      mask[1, edge, DARTS_OPS.index("sep_conv_3x3")] = True
      mask[1, edge + 1, DARTS_OPS.index("max_pool_3x3")] = True
    return mask

  def test_hand_built_mask_yields_expected_genotype(self):
    genotype = DartsGenotype.from_mask(self._hand_built_mask())
    self.assertEqual(genotype.normal, (
        ("max_pool_3x3", 0), ("sep_conv_3x3", 1), ("skip_connect", 0), ("dil_conv_5x5", 2),
        ("avg_pool_3x3", 1), ("sep_conv_5x5", 3), ("dil_conv_3x3", 2), ("skip_connect", 4)))
    self.assertEqual(genotype.reduce, (("sep_conv_3x3", 0), ("max_pool_3x3", 1)) * 4)
    self.assertAllEqual(genotype.alive_mask(), self._hand_built_mask())

  @parameterized.named_parameters(("cifar10", TENAS_CIFAR10), ("imagenet", TENAS_IMAGENET))
  def test_published_mask_round_trip(self, genotype):
    mask = genotype.alive_mask()
    self.assertEqual(mask.shape, (2, 14, 8))
    self.assertAllEqual(mask.sum(axis=(1, 2)), [8, 8])
    for cell in range(2):
      for start, end in darts.NODE_EDGES:
        self.assertEqual(int(mask[cell, start:end].sum()), 2)
    self.assertEqual(DartsGenotype.from_mask(mask), genotype)  # lower input first, as published

  def test_pairs_come_back_lower_input_first(self):
    higher_first = _ALL_SKIP[:2] + [("max_pool_3x3", 2), ("skip_connect", 0)] + _ALL_SKIP[4:]
    genotype = DartsGenotype(normal=higher_first, reduce=_ALL_SKIP)
    back = DartsGenotype.from_mask(genotype.alive_mask())
    self.assertEqual(back.normal[2:4], (("skip_connect", 0), ("max_pool_3x3", 2)))

  def test_mask_errors_name_the_fault(self):
    mask = TENAS_CIFAR10.alive_mask()
    with self.assertRaisesRegex(ValueError, r"shape \(2, 14, 8\); got \(14, 8\)"):
      DartsGenotype.from_mask(mask[0])
    two_ops = mask.copy()
    two_ops[1, 3, DARTS_OPS.index("skip_connect")] = True
    with self.assertRaisesRegex(ValueError, r"reduce edge 3 \(1<-1\) has 2"):
      DartsGenotype.from_mask(two_ops)
    three_inputs = mask.copy()
    three_inputs[0, 7, DARTS_OPS.index("skip_connect")] = True
    with self.assertRaisesRegex(ValueError, r"normal node 2 has 3: \['2<-0', '2<-1', '2<-2'\]"):
      DartsGenotype.from_mask(three_inputs)

  def test_built_ops_of(self):
    built = darts.built_ops_of(TENAS_CIFAR10.alive_mask())
    for cell, cell_type in zip(built, darts.CELL_TYPES):
      chosen = {darts.edge_index(position // 2, state): [op]
                for position, (op, state) in enumerate(TENAS_CIFAR10.cell(cell_type))}
      self.assertEqual(cell, [chosen.get(edge, []) for edge in range(14)])
    self.assertEqual(darts.built_ops_of(darts.initial_mask()), [[list(DARTS_OPS[1:])] * 14] * 2)

  @parameterized.named_parameters(("cifar10", TENAS_CIFAR10), ("imagenet", TENAS_IMAGENET))
  def test_published_genotypes_build(self, genotype):
    built = darts.built_ops_of(genotype.alive_mask())
    net = darts_supernet.linear_region_network(10, built_ops=built)
    self.assertEqual(sum(len(ops) for cell in built for ops in cell), 16)
    logits = net(np.random.default_rng(0).normal(size=(4, 3, 3, 1)).astype(np.float32),
                 training=True)
    self.assertEqual(tuple(logits.shape), (4, 10))
    self.assertAllEqual(net.alive.numpy(), genotype.alive_mask().astype(np.float32))
    self.assertNotEmpty(indicators.relu_layers(net))


if __name__ == "__main__":
  tf.test.main()
