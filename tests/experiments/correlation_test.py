"""Kendall tau-b and Spearman rho against hand-computed cases with ties."""

import itertools
import math

import numpy as np
from absl.testing import absltest

from tenas_tf.experiments import correlation


def _tau_b_by_pairs(x, y):
  """tau-b straight from its definition, one pair at a time."""
  concordant = discordant = ties_x_only = ties_y_only = 0
  for i, j in itertools.combinations(range(len(x)), 2):
    dx, dy = x[i] - x[j], y[i] - y[j]
    if dx == 0 and dy == 0:
      continue
    if dx == 0:
      ties_x_only += 1
    elif dy == 0:
      ties_y_only += 1
    elif dx * dy > 0:
      concordant += 1
    else:
      discordant += 1
  return (concordant - discordant) / math.sqrt(
      (concordant + discordant + ties_x_only) * (concordant + discordant + ties_y_only))


class KendallTauTest(absltest.TestCase):

  def test_perfect_and_reversed(self):
    self.assertEqual(correlation.kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]), 1.0)
    self.assertEqual(correlation.kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]), -1.0)

  def test_hand_computed_with_ties(self):
    # x = 1,2,2,3; y = 1,3,2,2. Pairs: (0,1)C (0,2)C (0,3)C (1,2) x-tie (1,3)D (2,3) y-tie.
    # C=3, D=1, tau-b = 2 / sqrt((6-1)(6-1)) = 0.4.
    self.assertAlmostEqual(correlation.kendall_tau([1, 2, 2, 3], [1, 3, 2, 2]), 0.4)

  def test_matches_pairwise_definition_on_random_ties(self):
    rng = np.random.default_rng(0)
    for _ in range(20):
      x, y = rng.integers(0, 4, 12), rng.integers(0, 4, 12)
      self.assertAlmostEqual(correlation.kendall_tau(x, y), _tau_b_by_pairs(x, y), places=12)

  def test_constant_side_gives_nan_and_bad_input_raises(self):
    self.assertTrue(math.isnan(correlation.kendall_tau([1, 1, 1], [1, 2, 3])))
    with self.assertRaisesRegex(ValueError, r"equal length; got shapes \(3,\) and \(2,\)"):
      correlation.kendall_tau([1, 2, 3], [1, 2])
    with self.assertRaisesRegex(ValueError, "must be finite"):
      correlation.kendall_tau([1, 2, math.inf], [1, 2, 3])


class SpearmanTest(absltest.TestCase):

  def test_average_ranks_with_ties(self):
    np.testing.assert_array_equal(correlation.average_ranks([10, 20, 20, 5]), [2, 3.5, 3.5, 1])

  def test_hand_computed_with_ties(self):
    # ranks x = 1, 2.5, 2.5, 4; ranks y = 1, 4, 2.5, 2.5; centred: (-1.5, 0, 0, 1.5) and
    # (-1.5, 1.5, 0, 0): covariance 2.25, variances 4.5 and 4.5 -> rho = 0.5.
    self.assertAlmostEqual(correlation.spearman_rho([1, 2, 2, 3], [1, 3, 2, 2]), 0.5)

  def test_monotone_transform_gives_one(self):
    x = np.arange(10.0)
    self.assertAlmostEqual(correlation.spearman_rho(x, np.exp(x)), 1.0)


if __name__ == "__main__":
  absltest.main()
