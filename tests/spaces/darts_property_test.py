"""Property tests: valid DARTS genotypes round trip through every form; broken ones are rejected.

The independent truths: Python's own evaluator for what a genotype text means, and the sorted
"k<-j" keys for where a pair lands in the mask.
"""

import json

from absl.testing import absltest
from hypothesis import given, settings, strategies as st
import numpy as np

from tenas_tf.spaces import DARTS_OPS, DartsGenotype

_OPS = tuple(op for op in DARTS_OPS if op != "none")
_CONCAT = [2, 3, 4, 5]
# Edge index of (node k, input j): the position of "k<-j" among the sorted keys.
_KEYS = sorted(f"{k}<-{j}" for k in range(4) for j in range(k + 2))
_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")


def _node(node):
  """The 2 (op, input) pairs of one node: two distinct inputs among the node's node + 2 states."""
  inputs = st.lists(st.integers(0, node + 1), min_size=2, max_size=2, unique=True)
  ops = st.lists(st.sampled_from(_OPS), min_size=2, max_size=2)
  return st.builds(lambda o, i: [(o[0], i[0]), (o[1], i[1])], ops, inputs)


_CELLS = st.tuples(*(_node(node) for node in range(4))).map(
    lambda nodes: [pair for node in nodes for pair in node])
_GENOTYPES = st.builds(lambda normal, reduce: DartsGenotype(normal=normal, reduce=reduce),
                       _CELLS, _CELLS)


def _text(fields):
  """DARTS' text form of raw fields, as `to_string` prints a genotype."""
  return "Genotype(" + ", ".join(f"{name}={fields[name]!r}" for name in _FIELDS) + ")"


def _as_lists(value):
  """Tuples and ranges as lists, recursively (the JSON shape of an evaluated field)."""
  if isinstance(value, (list, tuple, range)):
    return [_as_lists(item) for item in value]
  return value


def _evaluated(text):
  """The keyword fields of `Genotype(...)` text as Python evaluates them, or None if it cannot.

  The texts are one-character mutations of printed genotypes, evaluated without builtins.
  """
  captured = {}

  def genotype(*args, **kwargs):
    captured.update(args=args, kwargs=kwargs)

  namespace = {"__builtins__": {}, "Genotype": genotype, "range": range}
  try:
    eval(text, namespace)  # pylint: disable=eval-used
  except Exception:  # pylint: disable=broad-except
    return None
  if captured.get("args") or set(captured.get("kwargs", ())) != set(_FIELDS):
    return None
  return {name: _as_lists(value) for name, value in captured["kwargs"].items()}


def _assert_rejected(test, fields):
  """Each entry point (constructor, JSON dict and text, DARTS text) raises ValueError."""
  with test.assertRaises(ValueError):
    DartsGenotype(**fields)
  with test.assertRaises(ValueError):
    DartsGenotype.from_json(dict(fields))
  try:
    as_json = json.dumps(fields)
  except TypeError:  # not JSON-serialisable (a set, ...): the dict form above covers it
    as_json = None
  if as_json is not None:
    with test.assertRaises(ValueError):
      DartsGenotype.from_json(as_json)
  with test.assertRaises(ValueError):
    DartsGenotype.from_string(_text(fields))


class RoundTripPropertyTest(absltest.TestCase):

  @settings(max_examples=150, deadline=None)
  @given(_GENOTYPES)
  def test_json_form_round_trips(self, genotype):
    value = genotype.to_json()
    self.assertEqual(DartsGenotype.from_json(value), genotype)
    self.assertEqual(DartsGenotype.from_json(json.dumps(value)), genotype)
    self.assertEqual(json.loads(json.dumps(value)), value)

  @settings(max_examples=150, deadline=None)
  @given(_GENOTYPES)
  def test_text_form_round_trips(self, genotype):
    text = genotype.to_string()
    self.assertEqual(DartsGenotype.from_string(text), genotype)
    self.assertEqual(DartsGenotype.from_string(text).to_string(), text)
    self.assertEqual(_evaluated(text), genotype.to_json())
    with_ranges = text.replace("concat=[2, 3, 4, 5]", "concat=range(2, 6)")
    self.assertEqual(DartsGenotype.from_string(with_ranges), genotype)

  @settings(max_examples=150, deadline=None)
  @given(_GENOTYPES)
  def test_mask_round_trips_with_each_node_lower_input_first(self, genotype):
    mask = genotype.alive_mask()
    expected = np.zeros((2, 14, 8), bool)
    for cell, cell_type in enumerate(("normal", "reduce")):
      for position, (op, state) in enumerate(genotype.cell(cell_type)):
        expected[cell, _KEYS.index(f"{position // 2}<-{state}"), DARTS_OPS.index(op)] = True
    np.testing.assert_array_equal(mask, expected)

    back = DartsGenotype.from_mask(mask)
    np.testing.assert_array_equal(back.alive_mask(), mask)
    for cell_type in ("normal", "reduce"):
      pairs = genotype.cell(cell_type)
      ordered = [pair for node in range(4)
                 for pair in sorted(pairs[2 * node:2 * node + 2], key=lambda p: p[1])]
      self.assertEqual(list(back.cell(cell_type)), ordered)


class RejectionPropertyTest(absltest.TestCase):

  @settings(max_examples=300, deadline=None)
  @given(_GENOTYPES, st.data())
  def test_broken_genotypes_are_rejected_in_every_form(self, genotype, data):
    fields = genotype.to_json()
    cell_type = data.draw(st.sampled_from(("normal", "reduce")), label="cell type")
    pairs = [list(pair) for pair in fields[cell_type]]
    position = data.draw(st.integers(0, 7), label="pair")
    node = position // 2
    kind = data.draw(st.sampled_from(
        ("unknown_op", "op_not_a_string", "input_out_of_range", "input_not_an_int",
         "same_input_twice", "pair_count", "pair_shape", "container", "concat")), label="kind")
    if kind == "unknown_op":
      pairs[position][0] = data.draw(st.one_of(
          st.just("none"), st.text(max_size=15).filter(lambda op: op not in _OPS),
          st.sampled_from(_OPS).map(str.upper), st.sampled_from(_OPS).map(lambda op: op + "_"),
          st.sampled_from(_OPS).map(lambda op: op[:-1])))
    elif kind == "op_not_a_string":
      pairs[position][0] = data.draw(st.one_of(st.none(), st.integers(), st.lists(
          st.sampled_from(_OPS), max_size=2)))
    elif kind == "input_out_of_range":
      pairs[position][1] = data.draw(st.one_of(st.integers(max_value=-1),
                                               st.integers(min_value=node + 2)))
    elif kind == "input_not_an_int":
      pairs[position][1] = data.draw(st.one_of(
          st.booleans(), st.floats(), st.text(max_size=3), st.none(),
          st.integers(0, node + 1).map(float)))
    elif kind == "same_input_twice":
      first, second = 2 * node, 2 * node + 1
      pairs[second][1] = pairs[first][1]
    elif kind == "pair_count":
      count = data.draw(st.integers(0, 12).filter(lambda n: n != 8), label="pair count")
      pairs = (pairs * 2)[:count]
    elif kind == "pair_shape":
      pairs[position] = data.draw(st.one_of(
          st.just(pairs[position][:1]), st.just(pairs[position] + [0]),
          st.just(pairs[position][::-1]), st.just(pairs[position][0]), st.none()))
    elif kind == "container":
      pairs = data.draw(st.sampled_from((
          {tuple(pair) for pair in pairs}, {tuple(pair): 0 for pair in pairs},
          "".join(op for op, _ in pairs))))
    if kind == "concat":
      name = data.draw(st.sampled_from(("normal_concat", "reduce_concat")))
      fields[name] = data.draw(st.one_of(
          st.lists(st.integers(-1, 7), max_size=6).filter(lambda c: c != _CONCAT),
          st.permutations(_CONCAT).filter(lambda c: c != _CONCAT),
          st.just([2.0, 3.0, 4.0, 5.0]), st.just({2: 0, 3: 0, 4: 0, 5: 0}), st.just("2345")))
    else:
      fields[cell_type] = pairs
    _assert_rejected(self, fields)

  @settings(max_examples=150, deadline=None)
  @given(_GENOTYPES, st.data())
  def test_every_single_bit_flip_of_a_mask_is_rejected(self, genotype, data):
    mask = genotype.alive_mask()
    index = tuple(data.draw(st.integers(0, size - 1)) for size in mask.shape)
    mask[index] = not mask[index]
    with self.assertRaises(ValueError):
      DartsGenotype.from_mask(mask)

  @settings(max_examples=150, deadline=None)
  @given(_GENOTYPES, st.data())
  def test_truncated_text_is_rejected(self, genotype, data):
    text = genotype.to_string()
    end = data.draw(st.integers(0, len(text) - 1))
    with self.assertRaises(ValueError):
      DartsGenotype.from_string(text[:end])

  @settings(max_examples=300, deadline=None)
  @given(_GENOTYPES, st.data())
  def test_mutated_text_is_rejected_or_read_as_python_reads_it(self, genotype, data):
    text = genotype.to_string()
    position = data.draw(st.integers(0, len(text) - 1))
    kind = data.draw(st.sampled_from(("delete", "insert", "replace")))
    char = data.draw(st.sampled_from("()[]',=_ -.0123456789abcdefghijklmnopqrstuvwxyz"))
    mutated = {"delete": text[:position] + text[position + 1:],
               "insert": text[:position] + char + text[position:],
               "replace": text[:position] + char + text[position + 1:]}[kind]
    try:
      parsed = DartsGenotype.from_string(mutated)
    except ValueError:
      return
    # Accepted (e.g. one op or input turned into another valid one, or a space added): what was
    # read is exactly what the text says.
    self.assertEqual(_evaluated(mutated), parsed.to_json())


if __name__ == "__main__":
  absltest.main()
