"""The cell a search found, drawn as a PNG arc diagram; and the names of a space's edges.

Nodes stand left to right in their computing order; each edge is an arc from its input node to
the node it feeds, coloured and labelled by its op. NB201: nodes 0 (the cell input) to 3 (its
output). DARTS: the normal and the reduction cell, one above the other, each with the cell
inputs c_{k-2} and c_{k-1} (the outputs of the two previous cells), the intermediate nodes 0-3
(two input edges each) and the output c_{k}, which concatenates the intermediate nodes (dashed
grey arcs below the axis).

An arc diagram keeps labels apart without a layout engine (there is no graphviz here): an edge's
label sits on its arc's apex, above the middle of its ends at a height proportional to its span,
so two labels could only meet with the same span and neighbouring middles, which the node
spacing keeps apart.
Reference: NAS-Bench-201 (Dong & Yang, ICLR 2020) figure 1; DARTS (Liu et al., ICLR 2019)
figure 1 and section 2.1 (the cell's inputs, intermediate nodes and concatenated output).
"""

import numpy as np

from tenas_tf import spaces
from tenas_tf.experiments import plots

# Inches per node step; the axes keep an equal aspect, so a data unit is one step.
_STEP = 1.3
# An arc spanning s node steps peaks s * _RISE steps above the axis.
_RISE = 0.3
_FONT = 8.5
_DARTS_INPUTS = ("c_{k-2}", "c_{k-1}")
_NODE_COLOURS = {"input": "#cfe2f3", "node": "#fff2cc", "output": "#d9ead3"}
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#17becf", "#bcbd22")


def op_colour(op, ops):
  """The colour of `op` among `ops` (a space's op names, `none` first): `none` grey, the rest
  tab10 colours in the space's op order, so an op keeps its colour from picture to picture."""
  return "#9e9e9e" if op == "none" else _PALETTE[(ops.index(op) - 1) % len(_PALETTE)]


def state_name(state, *, tex=False):
  """A DARTS cell state's name: 0, 1 -> c_{k-2}, c_{k-1} (the cell inputs); j >= 2 -> node j-2."""
  if state < len(_DARTS_INPUTS):
    return f"${_DARTS_INPUTS[state]}$" if tex else _DARTS_INPUTS[state]
  return str(state - len(_DARTS_INPUTS))


def nb201_edges(genotype):
  """(input node, output node, op) of each edge of an `NB201Genotype`, in arch-string order (the
  order of its mask's edges)."""
  edges = []
  for target, group in enumerate(genotype.to_string().split("+"), start=1):
    for item in group.strip("|").split("|"):
      op, _, source = item.partition("~")
      edges.append((int(source), target, op))
  return edges


def edge_names(space, *, tex=False):
  """"input -> node" for each edge of `space`'s mask, in mask order.

  DARTS (a space with `node_edges`): node k's edges take the states 0 .. k+1 in order
  (`tenas_tf.spaces.DartsGenotype`), named by `state_name`. NB201: read off the arch string of
  a genotype, whose edges come in mask order.
  """
  if space.node_edges:
    return [f"{state_name(edge - start, tex=tex)} -> {node}"
            for node, (start, end) in enumerate(space.node_edges) for edge in range(start, end)]
  single_op = np.zeros_like(space.initial_mask())
  single_op[..., 1] = True
  return [f"{source} -> {target}" for source, target, _ in
          nb201_edges(space.genotype_of(single_op))]


def _limits(nodes, arcs, concat):
  """(x limits, y limits) of an arc diagram, in node steps."""
  height = max(target - source for source, target, _ in arcs) * _RISE
  depth = max([target - source for source, target in concat] + [2]) * _RISE / 2
  return (-0.6, len(nodes) - 0.4), (-depth - 0.12, height + 0.2)


def _diagram_size(nodes, arcs, concat):
  """(width, height) in inches of an arc diagram at `_STEP` inches per node step."""
  (left, right), (bottom, top) = _limits(nodes, arcs, concat)
  return _STEP * (right - left), _STEP * (top - bottom)


def _draw_arc_diagram(axes, nodes, arcs, concat, ops):
  """Draws `nodes` [(label, kind)] at x = 0, 1, ..; `arcs` [(input x, output x, op)] above the
  axis with the op on each apex; `concat` [(input x, output x)] dashed and unlabelled below.
  The axes must have `_diagram_size` (the arcs' heights assume an equal aspect)."""
  from matplotlib import patches  # pylint: disable=g-import-not-at-top

  def arc(source, target, colour, style, rise, width):
    # arc3 puts the Bezier control point rad * |dx| off the chord and the apex half as far, so
    # a fixed rad makes an arc's height proportional to its span.
    axes.add_patch(patches.FancyArrowPatch(
        (source, 0.0), (target, 0.0), connectionstyle=f"arc3,rad={-2 * rise}",
        arrowstyle="-|>", mutation_scale=11, shrinkA=14, shrinkB=14, color=colour,
        linestyle=style, linewidth=width, zorder=1))

  for source, target in concat:
    arc(source, target, "#9e9e9e", "--", -_RISE / 2, 1.0)
  for source, target, op in arcs:
    colour = op_colour(op, ops)
    arc(source, target, colour, "--" if op == "none" else "-", _RISE, 1.8)
    axes.text((source + target) / 2, _RISE * (target - source), op, ha="center", va="center",
              fontsize=_FONT, color=colour, zorder=3,
              bbox=dict(boxstyle="round,pad=0.25", facecolor="white", edgecolor=colour))
  for x, (label, kind) in enumerate(nodes):
    axes.text(x, 0.0, label, ha="center", va="center", fontsize=_FONT + 1.5, zorder=4,
              bbox=dict(boxstyle="round,pad=0.45", facecolor=_NODE_COLOURS[kind],
                        edgecolor="#555555"))
  xlim, ylim = _limits(nodes, arcs, concat)
  axes.set_xlim(*xlim)
  axes.set_ylim(*ylim)
  axes.axis("off")


def _nb201_figure(genotype):
  nodes = [("0", "input"), ("1", "node"), ("2", "node"), ("3", "output")]
  arcs = nb201_edges(genotype)
  width, height = _diagram_size(nodes, arcs, ())
  # Wide enough for the arch string in the title.
  figure_width, title = max(width, 7.6), 0.6
  figure = plots.new_figure(figure_width, height + title)
  margin = (figure_width - width) / 2 / figure_width
  axes = figure.add_axes((margin, 0, width / figure_width, height / (height + title)))
  _draw_arc_diagram(axes, nodes, arcs, (), spaces.NB201_OPS)
  for x, name in ((0, "input"), (3, "output")):
    axes.text(x, -0.17, name, ha="center", va="top", fontsize=_FONT, color="#555555")
  figure.suptitle("NB201 cell found by the search (an arc j -> i is the op of edge i <- j)\n"
                  + genotype.to_string(), fontsize=_FONT + 0.5, y=1 - 0.08 / (height + title),
                  va="top")
  return figure


def _node_text(pairs, node):
  """"node <- op(input) + op(input)" for DARTS node `node` of a cell's (op, input) pairs."""
  return f"{node} <- " + " + ".join(f"{op}({state_name(state)})"
                                    for op, state in pairs[2 * node:2 * node + 2])


def _darts_figure(genotype):
  intermediate = len(genotype.normal) // 2
  nodes = ([(state_name(state, tex=True), "input") for state in range(len(_DARTS_INPUTS))]
           + [(str(k), "node") for k in range(intermediate)] + [("$c_{k}$", "output")])
  output = len(nodes) - 1
  cells = []
  for cell_type in ("normal", "reduce"):
    pairs = genotype.cell(cell_type)
    arcs = [(state, len(_DARTS_INPUTS) + position // 2, op)
            for position, (op, state) in enumerate(pairs)]
    concat = [(state, output) for state in getattr(genotype, f"{cell_type}_concat")]
    cells.append((cell_type, pairs, arcs, concat))
  sizes = [_diagram_size(nodes, arcs, concat) for _, _, arcs, concat in cells]
  width = max(w for w, _ in sizes)
  title, caption = 0.55, 0.5
  total = title + sum(caption + h for _, h in sizes)
  figure = plots.new_figure(width, total)
  figure.suptitle("DARTS cells found by the search: nodes 0-3 each sum 2 input edges (arcs, "
                  "labelled with their op);\n$c_{k}$, the cell output, concatenates nodes 0-3 "
                  "(dashed)", fontsize=_FONT + 0.5, y=1 - 0.08 / total, va="top")
  top = total - title
  for (cell_type, pairs, arcs, concat), (w, h) in zip(cells, sizes):
    lines = ["; ".join(_node_text(pairs, k) for k in range(first, min(first + 2, intermediate)))
             for first in range(0, intermediate, 2)]
    figure.text(0.5, (top - 0.02) / total, f"{cell_type} cell\n" + "\n".join(lines),
                ha="center", va="top", fontsize=_FONT - 0.5, family="monospace",
                linespacing=1.3)
    top -= caption + h
    axes = figure.add_axes(((width - w) / 2 / width, top / total, w / width, h / total))
    _draw_arc_diagram(axes, nodes, arcs, concat, spaces.DARTS_OPS)
  return figure


def cell_picture(path, genotype):
  """Draws the cell of `genotype` to a PNG file.

  Args:
    path: the PNG file to write (its folder must exist).
    genotype: an `NB201Genotype` (one 4-node cell) or a `DartsGenotype` (its normal and
      reduction cells, one above the other).

  Returns:
    `path`.

  Raises:
    TypeError: `genotype` is neither.

  Example:
    >>> cell_picture("/tmp/cell.png", tenas_tf.spaces.TENAS_CIFAR10)
  """
  if isinstance(genotype, spaces.NB201Genotype):
    figure = _nb201_figure(genotype)
  elif isinstance(genotype, spaces.DartsGenotype):
    figure = _darts_figure(genotype)
  else:
    raise TypeError(f"genotype must be an NB201Genotype or a DartsGenotype; got "
                    f"{type(genotype).__name__}")
  return plots.save_png(figure, path, palette=True)
