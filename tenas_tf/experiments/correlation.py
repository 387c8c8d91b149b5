"""Rank correlations (Kendall tau-b, Spearman rho) with ties, in plain numpy.

Used to check indicators against trained accuracies; written out so the package needs no scipy.
"""

import numpy as np


def _as_pair(x, y):
  x = np.asarray(x, dtype=np.float64)
  y = np.asarray(y, dtype=np.float64)
  if x.ndim != 1 or x.shape != y.shape:
    raise ValueError(f"x and y must be 1-D of equal length; got shapes {x.shape} and {y.shape}")
  if len(x) < 2:
    raise ValueError(f"need at least 2 pairs for a rank correlation; got {len(x)}")
  if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
    raise ValueError("x and y must be finite (rank non-finite indicators before correlating)")
  return x, y


def kendall_tau(x, y):
  """Kendall's tau-b: (concordant - discordant) / sqrt((n0 - ties_x) (n0 - ties_y)).

  O(n^2) over pairs, exact for ties; nan when one side is constant.
  """
  x, y = _as_pair(x, y)
  dx = np.sign(x[:, None] - x[None, :])
  dy = np.sign(y[:, None] - y[None, :])
  upper = np.triu_indices(len(x), k=1)
  dx, dy = dx[upper], dy[upper]
  numerator = float(np.sum(dx * dy))
  denominator = np.sqrt(float(np.sum(dx != 0)) * float(np.sum(dy != 0)))
  return numerator / denominator if denominator else float("nan")


def average_ranks(values):
  """1-based ranks, ties given the mean of the ranks they span."""
  values = np.asarray(values, dtype=np.float64)
  order = np.argsort(values, kind="stable")
  ranks = np.empty(len(values), dtype=np.float64)
  sorted_values = values[order]
  start = 0
  while start < len(values):
    end = start
    while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
      end += 1
    ranks[order[start:end + 1]] = (start + end) / 2.0 + 1.0
    start = end + 1
  return ranks


def spearman_rho(x, y):
  """Spearman's rho: Pearson correlation of the average ranks; nan when one side is constant."""
  x, y = _as_pair(x, y)
  rx, ry = average_ranks(x), average_ranks(y)
  rx, ry = rx - rx.mean(), ry - ry.mean()
  denominator = np.sqrt(np.sum(rx * rx) * np.sum(ry * ry))
  return float(np.sum(rx * ry) / denominator) if denominator else float("nan")
