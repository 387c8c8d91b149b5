"""Property tests: valid arch strings round trip; mutated ones are rejected, never accepted."""

from absl.testing import absltest
from hypothesis import given, settings, strategies as st

from tenas_tf.spaces import NB201_OPS, NB201Genotype

_GENOTYPES = st.lists(st.sampled_from(NB201_OPS), min_size=6, max_size=6).map(
    lambda ops: NB201Genotype(tuple(ops)))
_ALPHABET = "|+~0123abcdefghijklmnoprstuvwxyz_"


def _is_canonical(text):
  """Whether `text` is exactly the string of some genotype (checked by enumeration of parts)."""
  groups = text.split("+")
  if len(groups) != 3:
    return False
  for node, group in enumerate(groups, start=1):
    items = group[1:-1].split("|") if group.startswith("|") and group.endswith("|") else None
    if items is None or len(group) < 2 or len(items) != node:
      return False
    if any(item not in {f"{op}~{source}" for op in NB201_OPS}
           for source, item in enumerate(items)):
      return False
  return True


class ArchStringPropertyTest(absltest.TestCase):

  @settings(max_examples=300, deadline=None)
  @given(_GENOTYPES)
  def test_valid_strings_round_trip(self, genotype):
    text = genotype.to_string()
    self.assertEqual(NB201Genotype.from_string(text), genotype)
    self.assertEqual(NB201Genotype.from_string(text).to_string(), text)
    self.assertEqual(NB201Genotype.from_mask(genotype.alive_mask()), genotype)

  @settings(max_examples=500, deadline=None)
  @given(_GENOTYPES, st.data())
  def test_mutations_are_rejected_unless_still_canonical(self, genotype, data):
    text = genotype.to_string()
    position = data.draw(st.integers(0, len(text) - 1))
    kind = data.draw(st.sampled_from(["delete", "insert", "replace"]))
    char = data.draw(st.sampled_from(_ALPHABET))
    if kind == "delete":
      mutated = text[:position] + text[position + 1:]
    elif kind == "insert":
      mutated = text[:position] + char + text[position:]
    else:
      mutated = text[:position] + char + text[position + 1:]
    if _is_canonical(mutated):  # e.g. one op name turned into another
      self.assertEqual(NB201Genotype.from_string(mutated).to_string(), mutated)
    else:
      with self.assertRaisesRegex(ValueError, "malformed NB201 arch string"):
        NB201Genotype.from_string(mutated)

  @settings(max_examples=200, deadline=None)
  @given(st.text(alphabet=_ALPHABET, max_size=80))
  def test_random_text_is_parsed_only_when_canonical(self, text):
    if _is_canonical(text):
      self.assertEqual(NB201Genotype.from_string(text).to_string(), text)
    else:
      with self.assertRaises(ValueError):
        NB201Genotype.from_string(text)


if __name__ == "__main__":
  absltest.main()
