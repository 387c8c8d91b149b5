"""Ranking rules checked on hand-worked cases (the authors' code's rounding and tie rules)."""

import math

from absl.testing import absltest
from absl.testing import parameterized

from tenas_tf.search import ranking


class RoundSignificantTest(parameterized.TestCase):

  @parameterized.parameters(
      (0.123456, 0.123), (123456.0, 123000.0), (-0.0045678, -0.00457), (0.0, 0.0),
      (1.0, 1.0), (9.996, 10.0))
  def test_three_significant_figures(self, value, expected):
    self.assertAlmostEqual(ranking.round_significant(value), expected, places=12)

  def test_non_finite_passes_through(self):
    self.assertEqual(ranking.round_significant(-math.inf), -math.inf)
    self.assertTrue(math.isnan(ranking.round_significant(math.nan)))


class RelativeDropTest(parameterized.TestCase):

  def test_finite_values_round_to_three_decimals(self):
    self.assertEqual(ranking.relative_drop(300.0, 200.0), (0.333, None))
    self.assertEqual(ranking.relative_drop(100.0, 150.0), (-0.5, None))

  @parameterized.parameters(
      (math.inf, math.inf, 0.0), (math.inf, 10.0, 1.0), (10.0, math.inf, -math.inf),
      (math.nan, 10.0, 1.0), (10.0, math.nan, -math.inf), (0.0, 0.0, 0.0), (0.0, 5.0, -math.inf))
  def test_special_values_are_defined_and_warned(self, origin, candidate, expected):
    drop, warning = ranking.relative_drop(origin, candidate)
    self.assertEqual(drop, expected)
    self.assertIn("non-finite or zero", warning)


class DenseRanksTest(absltest.TestCase):

  def test_descending_with_ties(self):
    # values 0.5, 0.2, 0.5, 0.1 -> sorted 0.5 (0), 0.5 (2), 0.2 (1), 0.1 (3); ranks 0, 1, 0, 2.
    order, ranks = ranking.dense_ranks([0.5, 0.2, 0.5, 0.1], descending=True)
    self.assertEqual(order, [0, 2, 1, 3])
    self.assertEqual(ranks, [0, 1, 0, 2])

  def test_ascending_with_ties(self):
    order, ranks = ranking.dense_ranks([0.3, -0.1, 0.3, 0.0], descending=False)
    self.assertEqual(order, [1, 3, 0, 2])
    self.assertEqual(ranks, [2, 0, 2, 1])

  def test_ties_use_unrounded_values_like_the_reference(self):
    # 0.12341 and 0.12342 share the sort key 0.123 but differ, so they get different ranks.
    _, ranks = ranking.dense_ranks([0.12341, 0.12342, 0.5], descending=True)
    self.assertEqual(ranks, [1, 2, 0])

  def test_infinities_sort_to_the_ends(self):
    _, ranks = ranking.dense_ranks([0.1, -math.inf, 0.2], descending=True)
    self.assertEqual(ranks, [1, 2, 0])


class RankCandidatesTest(absltest.TestCase):

  def test_rank_sum_and_stable_tie_break(self):
    ntk = [0.3, 0.1, 0.2, 0.2]   # ranks 0, 2, 1, 1
    lr = [0.05, -0.2, 0.0, 0.1]  # ranks 2, 0, 1, 3
    order, ntk_ranks, lr_ranks = ranking.rank_candidates(ntk, lr)
    self.assertEqual(ntk_ranks, [0, 2, 1, 1])
    self.assertEqual(lr_ranks, [2, 0, 1, 3])
    # sums 2, 2, 2, 4: the three ties keep NTK-sorted order 0, 2, (3 has sum 4), 1.
    self.assertEqual(order, [0, 2, 1, 3])

  def test_length_mismatch_is_rejected(self):
    with self.assertRaisesRegex(ValueError, "one LR score per NTK score; got 2 and 1"):
      ranking.rank_candidates([0.1, 0.2], [0.1])


if __name__ == "__main__":
  absltest.main()
