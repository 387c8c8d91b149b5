"""Scatter plots of an indicator against trained accuracy, written as PNG files.

Uses matplotlib's object API with the Agg canvas (no pyplot, no display, no global state), so it
runs headless and in threads.
"""

import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def indicator_scatter(path, values, accuracies, *, xlabel, ylabel, title=None):
  """Writes a scatter plot of `accuracies` (y) against indicator `values` (x) to a PNG file.

  Points whose value is not finite (e.g. log kappa of a singular kernel) cannot sit at their x:
  they are drawn as red crosses just right of the finite points and named in the legend.

  Args:
    path: the PNG file to write (its folder must exist).
    values: [n] indicator values (may hold inf or NaN).
    accuracies: [n] accuracies.
    xlabel, ylabel: axis labels.
    title: optional title.

  Returns:
    `path`.

  Raises:
    ValueError: if `values` and `accuracies` differ in length.

  Example:
    >>> indicator_scatter("ntk.png", np.log10(kappa), acc, xlabel="log10 kappa",
    ...                   ylabel="CIFAR-10 test accuracy (%)")
  """
  values = np.asarray(values, dtype=np.float64)
  accuracies = np.asarray(accuracies, dtype=np.float64)
  if values.shape != accuracies.shape or values.ndim != 1:
    raise ValueError(f"values and accuracies must be 1-D of one length; got shapes "
                     f"{values.shape} and {accuracies.shape}")
  figure = Figure(figsize=(5.0, 4.0), dpi=100)
  FigureCanvasAgg(figure)
  axes = figure.add_subplot()
  finite = np.isfinite(values)
  axes.scatter(values[finite], accuracies[finite], s=16, alpha=0.8, label="cells")
  if not finite.all():
    if finite.any():
      low, high = values[finite].min(), values[finite].max()
      edge = high + 0.08 * ((high - low) or 1.0)
    else:
      edge = 0.0
    axes.scatter(np.full(int((~finite).sum()), edge), accuracies[~finite], marker="x",
                 color="red", label="not finite (placed at the right)")
    axes.legend(loc="best", fontsize="small")
  axes.set_xlabel(xlabel)
  axes.set_ylabel(ylabel)
  if title:
    axes.set_title(title, fontsize="medium")
  axes.grid(True, alpha=0.3)
  figure.tight_layout()
  figure.savefig(os.fspath(path), format="png")
  return path
