"""TE-NAS scores and rank sums, with the reference's rounding and tie rules.

A candidate is "the current supernet minus one op". Its NTK score is the relative drop of kappa
when the op is removed (high: removing the op helps trainability, prune it first) and its LR score
the relative drop of the region count (low: the op adds little expressivity, prune it first).
Both are ranked densely and the ranks summed; the lowest sums are pruned.
Reference: TE-NAS (Chen et al., ICLR 2021) section 3.3; README "Faithful to the reference"
(the authors' code's rounding and tie rules).
"""

import math

SCORE_DECIMALS = 3      # deltas are rounded to 3 decimals before averaging over repeats
SORT_SIGNIFICANT = 3    # sort keys are rounded to 3 significant figures


def round_significant(value, digits=SORT_SIGNIFICANT):
  """`value` rounded to `digits` significant figures; 0, inf and nan pass through."""
  if value == 0 or not math.isfinite(value):
    return value
  return round(value, digits - int(math.floor(math.log10(abs(value)))) - 1)


def relative_drop(origin, candidate):
  """(origin - candidate) / origin, rounded to 3 decimals, defined for every input.

  Indicators can be non-finite (kappa = inf for a singular kernel, nan for a broken one; see
  `tenas_tf.indicators.NTKSpectrum`). The reference crashes there; we treat nan as inf (both mean
  "not trainable") and define: both infinite -> 0; origin infinite, candidate finite -> 1
  (removing the op restores a finite value: the largest possible improvement); origin finite,
  candidate infinite -> -inf (removing the op breaks the network: never prune it on this
  indicator); origin 0 -> 0 if candidate is 0 too, else -inf.

  Returns:
    (drop, warning): the rounded drop and a message when a special rule applied, else None.
  """
  origin = math.inf if math.isnan(origin) else origin
  candidate = math.inf if math.isnan(candidate) else candidate
  if math.isinf(origin) or math.isinf(candidate) or origin == 0:
    if math.isinf(origin) and math.isinf(candidate):
      drop = 0.0
    elif math.isinf(origin):
      drop = 1.0
    elif origin == 0 and candidate == 0:
      drop = 0.0
    else:
      drop = -math.inf
    return drop, f"non-finite or zero indicator (origin {origin}, candidate {candidate}): drop {drop}"
  return round((origin - candidate) / origin, SCORE_DECIMALS), None


def dense_ranks(values, descending):
  """Dense 0-based ranks, as the reference assigns them.

  Candidates are stably sorted by `values` rounded to 3 significant figures; walking that order,
  the rank grows by one whenever a value differs (unrounded) from the previous one.

  Args:
    values: list of floats, one per candidate (may hold +-inf).
    descending: True to give rank 0 to the largest value.

  Returns:
    (order, ranks): candidate indices in sorted order, and the rank of each candidate.
  """
  order = sorted(range(len(values)), key=lambda i: round_significant(values[i]),
                 reverse=descending)
  # `sorted(..., reverse=True)` keeps equal keys in their original order, like a stable sort.
  ranks = [0] * len(values)
  rank = 0
  for position, index in enumerate(order):
    if position and values[index] != values[order[position - 1]]:
      rank += 1
    ranks[index] = rank
  return order, ranks


def rank_candidates(ntk_scores, lr_scores):
  """Ranks candidates TE-NAS style.

  Args:
    ntk_scores: per candidate, the mean relative kappa drop (higher: prune first).
    lr_scores: per candidate, the mean relative #LR drop (lower: prune first).

  Returns:
    (prune_order, ntk_ranks, lr_ranks): candidate indices from most to least prunable (rank sum
    ascending, ties kept in NTK-sorted order), and each candidate's two ranks.
  """
  if len(ntk_scores) != len(lr_scores):
    raise ValueError(f"need one LR score per NTK score; got {len(ntk_scores)} and {len(lr_scores)}")
  ntk_order, ntk_ranks = dense_ranks(ntk_scores, descending=True)
  _, lr_ranks = dense_ranks(lr_scores, descending=False)
  prune_order = sorted(ntk_order, key=lambda i: ntk_ranks[i] + lr_ranks[i])
  return prune_order, ntk_ranks, lr_ranks
