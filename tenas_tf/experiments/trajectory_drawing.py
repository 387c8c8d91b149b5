"""The pruning trajectory of a search, drawn as a PNG table: which op left each edge, when, why.

One table per cell type (NB201: one; DARTS: normal, then reduction). Rows are the cell's edges
("input -> node"); columns are the op rounds in order, then the cell type's topology rounds
(DARTS; one column, as each round cuts only its own node's edges), then the ops left after the
last round. A table cell names the op(s) that round removed from that edge with their rank
sum (NTK rank + LR rank of the candidate "supernet without this op"): an op round removes, per
edge, the ops of lowest sum; a topology round (DARTS) keeps the 2 input edges of its node with
the highest sums and cuts the others. Only the round records are read
(`tenas_tf.search.prune_round`), so a search in progress (state.json) draws as well as a
finished one.
Reference: TE-NAS (Chen et al., ICLR 2021) section 3.3, algorithm 1.
"""

from tenas_tf.experiments import cell_drawing
from tenas_tf.experiments import plots

_FONT = 8.0
_LINE = 0.15        # inches per text line
_PAD = 0.12         # inches around a table cell's text
_MARGIN = 0.2
_COLOURS = {"pruned": "#f4cccc", "cut": "#f9cb9c", "kept": "#d9ead3", "left": "#b6d7a8",
            None: "white"}
_OPS_LEGEND = ("red: removed by an op round (op, rank sum); each op round removes, per edge, the "
               "candidates of lowest rank sum.")
_TOPOLOGY_LEGEND = ("orange / green: cut / kept by a topology round, which keeps the 2 input "
                    "edges of its node with the highest rank sums.")
_SUM_LEGEND = ("rank sum = NTK rank + LR rank of the supernet without that op (0: its removal "
               "helps the NTK most and costs the fewest linear regions).")


def _text_width(text, size):
  """The width of `text` at font `size`, in inches, with room for it in bold."""
  from matplotlib.textpath import TextPath  # pylint: disable=g-import-not-at-top
  if not text.strip():
    return 0.0
  return 1.1 * TextPath((0, 0), text, size=size).get_extents().width / 72.0


def _count(number, noun):
  return f"{number} {noun}{'' if number == 1 else 's'}"


def _sum_text(value):
  return f"{value:g}" if isinstance(value, float) else str(value)


def _entry(record, cell_type, edge):
  """(lines, style) of `record`'s table cell for `edge` of `cell_type`."""
  sums = {(r["cell"], r["edge"], r["op"]): r["sum"] for r in record["ranks"]}
  pruned = [p["op"] for p in record["pruned"] if (p["cell"], p["edge"]) == (cell_type, edge)]
  if record["kind"] == "ops":
    return [f"{op} ({_sum_text(sums[cell_type, edge, op])})" for op in pruned], (
        "pruned" if pruned else None)
  if pruned:
    return [f"cut {op} ({_sum_text(sums[cell_type, edge, op])})" for op in pruned], "cut"
  kept = [r for r in record["ranks"] if (r["cell"], r["edge"]) == (cell_type, edge)]
  return [f"kept {r['op']} ({_sum_text(r['sum'])})" for r in kept], ("kept" if kept else None)


def _group_entry(records, cell_type, edge):
  """(lines, style) of a table cell that gathers `records` (one op round, or the topology rounds
  of a cell type, each on its own node's edges)."""
  lines, style = [], None
  for record in records:
    more, more_style = _entry(record, cell_type, edge)
    lines += more
    style = style or more_style
  return lines, style


def _header(records):
  """A column's header: one op round, or the topology rounds of a cell type."""
  numbers = [record["round"] for record in records]
  if records[0]["kind"] == "ops":
    return f"round {numbers[0]}: ops\n{len(records[0]['ranks'])} candidates"
  if len(numbers) == 1:
    span = f"round {numbers[0]}"
  elif numbers == list(range(numbers[0], numbers[-1] + 1)):
    span = f"rounds {numbers[0]}-{numbers[-1]}"
  else:
    span = "rounds " + ", ".join(map(str, numbers))
  nodes = ", ".join(str(record["node"]) for record in records)
  return f"{span}: topology\nof node{'s' if len(records) > 1 else ''} {nodes}"


def _ops_left(space, rounds):
  """bool [cell_types, edges, ops]: the ops alive after `rounds`, replayed from their prunings."""
  mask = space.initial_mask().copy()
  for record in rounds:
    for pruned in record["pruned"]:
      mask[space.cell_types.index(pruned["cell"]), pruned["edge"],
           space.ops.index(pruned["op"])] = False
  return mask


def _tables(space, rounds):
  """Per cell type: (name, column headers, [row label, [(lines, style) per column]])."""
  alive = _ops_left(space, rounds)
  names = cell_drawing.edge_names(space, tex=True)
  tables = []
  for cell_index, cell_type in enumerate(space.cell_types):
    # One column per op round; one for this cell type's topology rounds, which touch disjoint
    # edges (each its own node's inputs).
    columns = [[r] for r in rounds if r["kind"] == "ops"]
    topology = [r for r in rounds if r["kind"] == "topology" and r["cell"] == cell_type]
    columns += [topology] if topology else []
    rows = []
    for edge, name in enumerate(names):
      left = [op for op, on in zip(space.ops, alive[cell_index, edge]) if on]
      # An unfinished search leaves several ops on an edge: two names a line keeps rows low.
      left_lines = [", ".join(left[i:i + 2]) for i in range(0, len(left), 2)] or ["- (cut)"]
      rows.append((name, [_group_entry(group, cell_type, edge) for group in columns]
                   + [(left_lines, "left" if left else None)]))
    headers = [_header(group) for group in columns] + ["ops left after\nthe last round"]
    tables.append((cell_type, headers, rows))
  return tables


def trajectory_picture(path, space, rounds):
  """Draws the pruning trajectory of a search's `rounds` to a PNG file.

  Args:
    path: the PNG file to write (its folder must exist).
    space: the `SearchSpace` searched.
    rounds: the round records (`tenas_tf.search.run_search`: `round`, `kind`, `pruned`,
      `ranks`, and a topology round's `cell` and `node`), as result.json or state.json holds
      them.

  Returns:
    `path`.

  Example:
    >>> trajectory_picture("/tmp/trajectory.png", tenas_tf.spaces.get_space("nb201"),
    ...                    result["rounds"])
  """
  tables = _tables(space, rounds)
  line_count = max(len(lines) for _, _, rows in tables for _, cells in rows
                   for lines, _ in cells)
  row_height = line_count * _LINE + _PAD
  header_height = 2 * _LINE + _PAD
  label_width = max(_text_width(name, _FONT) for _, _, rows in tables for name, _ in rows)
  label_width += 2 * _PAD
  widths = [max([_text_width(line, _FONT) for h in [headers[column]] for line in h.split("\n")]
                + [_text_width(line, _FONT) for _, cells in rows for line in cells[column][0]])
            + 2 * _PAD for _, headers, rows in tables for column in range(len(headers))]
  # One column width per position, so the tables of a DARTS search line up.
  columns = max(len(headers) for _, headers, _ in tables)
  column_width = max(widths)
  named = len(tables) > 1
  op_rounds = sum(r["kind"] == "ops" for r in rounds)
  topology_rounds = len(rounds) - op_rounds
  legend = (_OPS_LEGEND,) + ((_TOPOLOGY_LEGEND,) if topology_rounds else ()) + (_SUM_LEGEND,)
  title_height, legend_height = 0.55, 0.2 + _LINE * len(legend)
  rounds_text = _count(op_rounds, "op round") + (
      f" and {_count(topology_rounds, 'topology round')}" if topology_rounds else "")
  title = (f"TE-NAS pruning trajectory in the {space.name} space: {rounds_text}\nper edge and "
           f"round: the op(s) removed and their rank sum (NTK rank + LR rank; the lowest sums go)")
  width = max([2 * _MARGIN + label_width + columns * column_width]
              + [2 * _MARGIN + _text_width(line, _FONT - 0.5) for line in legend]
              + [2 * _MARGIN + _text_width(line, _FONT + 1.5) for line in title.split("\n")])
  height = title_height + legend_height + sum(
      (0.3 if named else 0) + header_height + len(rows) * row_height + 0.2 for _, _, rows in tables)
  figure = plots.new_figure(width, height)
  axes = figure.add_axes((0, 0, 1, 1))
  axes.set_xlim(0, width)
  axes.set_ylim(height, 0)  # inches from the top left
  axes.axis("off")
  axes.text(width / 2, 0.12, title, ha="center", va="top", fontsize=_FONT + 1.5)

  def box(x, y, w, h, lines, style, weight="normal"):
    axes.add_patch(_rectangle((x, y), w, h, _COLOURS[style]))
    axes.text(x + _PAD, y + h / 2, "\n".join(lines), ha="left", va="center", fontsize=_FONT,
              fontweight=weight, linespacing=1.25)

  top = title_height
  for cell_type, headers, rows in tables:
    if named:
      axes.text(_MARGIN, top + 0.15, f"{cell_type} cell", ha="left", va="center",
                fontsize=_FONT + 1.5, fontweight="bold")
      top += 0.3
    x0 = _MARGIN + label_width
    for column, header in enumerate(headers):
      box(x0 + column * column_width, top, column_width, header_height, header.split("\n"), None,
          "bold")
    y = top + header_height
    for name, cells in rows:
      box(_MARGIN, y, label_width, row_height, [name], None)
      for column, (lines, style) in enumerate(cells):
        box(x0 + column * column_width, y, column_width, row_height, lines, style,
            "bold" if style == "left" else "normal")
      y += row_height
    top = y + 0.2
  axes.text(_MARGIN, top, "\n".join(legend), ha="left", va="top",
            fontsize=_FONT - 0.5, color="#444444", linespacing=1.4)
  return plots.save_png(figure, path, palette=True)


def _rectangle(corner, width, height, colour):
  from matplotlib import patches  # pylint: disable=g-import-not-at-top
  return patches.Rectangle(corner, width, height, facecolor=colour, edgecolor="#bbbbbb",
                           linewidth=0.6)

