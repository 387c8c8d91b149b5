"""PNG figures: the figure helpers every picture uses, and indicator-vs-accuracy scatter plots.

Uses matplotlib's object API with the Agg canvas (no pyplot, no display, no global state), so it
runs headless and in threads. matplotlib is imported when a figure is made, not with this module
(it takes a while to import, and most runs draw nothing).
"""

import io
import os

import numpy as np

DPI = 100


def new_figure(width, height, dpi=DPI):
  """A matplotlib `Figure` of `width` x `height` inches on an Agg canvas (PNG size: x `dpi`)."""
  # pylint: disable=g-import-not-at-top
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure
  figure = Figure(figsize=(width, height), dpi=dpi)
  FigureCanvasAgg(figure)
  return figure


def save_png(figure, path, *, palette=False):
  """Writes `figure` as a PNG to `path` through a temporary file and a rename, so a killed run
  leaves the previous picture or none, never half of one.

  Args:
    figure: a `new_figure`.
    path: the PNG file to write (its folder must exist).
    palette: store a 128-colour palette (octree, so that a colour drawn on few pixels keeps
      its own entry; no dithering) instead of RGBA: flat-coloured text and tables keep their
      look at a third of the size (a DARTS trajectory: 440 KB -> about 120 KB).

  Returns:
    `path`.
  """
  path = os.fspath(path)
  folder, name = os.path.split(os.path.abspath(path))
  temporary = os.path.join(folder, f".tmp-{os.getpid()}-{name}")
  try:
    if palette:
      from PIL import Image  # pylint: disable=g-import-not-at-top  (matplotlib requires Pillow)
      buffer = io.BytesIO()
      figure.savefig(buffer, format="png")
      image = Image.open(buffer).convert("RGB")
      image.quantize(colors=128, method=Image.Quantize.FASTOCTREE,
                     dither=Image.Dither.NONE).save(temporary, format="png", optimize=True)
    else:
      figure.savefig(temporary, format="png")
    os.replace(temporary, path)
  except BaseException:
    if os.path.exists(temporary):
      os.remove(temporary)
    raise
  return path


def tau_title(x_name, tau, *, cells, better):
  """A scatter title whose Kendall tau is the one of the plotted x against accuracy.

  Args:
    x_name: the quantity on the x axis, as the title names it (e.g. "log10 kappa").
    tau: Kendall tau of that x against the accuracy on the y axis, or None if undefined.
    cells: how many cells are plotted, as the title says it (e.g. 30, or "30 NB201").
    better: which way is better, e.g. "smaller kappa is better".

  Returns:
    e.g. "Kendall tau(log10 kappa, accuracy) = -0.612 over 30 cells\\nsmaller kappa is better".
  """
  value = "n/a" if tau is None else f"{tau + 0.0:.3f}"  # + 0.0 turns -0.0 into 0.0
  return f"Kendall tau({x_name}, accuracy) = {value} over {cells} cells\n{better}"


def indicator_scatter(path, values, accuracies, *, xlabel, ylabel, title=None):
  """Writes a scatter plot of `accuracies` (y) against indicator `values` (x) to a PNG file.

  Points whose value is not finite (e.g. log kappa of a singular kernel) cannot sit at their x:
  they are drawn as red crosses just right of the finite points and named in the legend.

  Args:
    path: the PNG file to write (its folder must exist).
    values: [n] indicator values (may hold inf or NaN).
    accuracies: [n] accuracies.
    xlabel, ylabel: axis labels.
    title: optional title (`tau_title` states a tau of the plotted x).

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
  figure = new_figure(5.0, 4.0)
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
    axes.set_title(title, fontsize="small")
  axes.grid(True, alpha=0.3)
  figure.tight_layout()
  return save_png(figure, path)
