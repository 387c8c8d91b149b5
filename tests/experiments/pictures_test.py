"""The cell and trajectory pictures of a search: valid PNGs of the layout's size, showing the ops.

Round records are hand-made (`round_records`), so these tests draw without searching.
"""

import os
import tempfile

import numpy as np
from absl.testing import absltest
from PIL import Image

from tenas_tf import experiments
from tenas_tf import spaces
from tenas_tf.experiments import cell_drawing
from tenas_tf.spaces import darts
from tenas_tf.spaces import nb201
from tests.experiments import round_records

NB201_CELL = spaces.NB201Genotype.from_string(
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
    "nor_conv_1x1~2|")
# Pixel sizes of the current layout at 100 dpi (a deliberate layout change updates them).
NB201_CELL_SIZE = (760, 257)
DARTS_CELL_SIZE = (936, 667)
MAX_BYTES = 300_000


def _read_png(path):
  """(width, height) and the RGB pixels of the PNG at `path`, after checking its signature."""
  with open(path, "rb") as stream:
    signature = stream.read(8)
  if signature != b"\x89PNG\r\n\x1a\n":
    raise AssertionError(f"{path} is not a PNG (starts with {signature!r})")
  with Image.open(path) as image:
    return image.size, np.asarray(image.convert("RGB"), dtype=np.int32)


def _shows_colour(pixels, hex_colour, tolerance=24):
  """Whether some pixel is within `tolerance` (per channel) of `hex_colour`."""
  rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
  return bool(np.any(np.all(np.abs(pixels - rgb) <= tolerance, axis=-1)))


class CellPictureTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = self.enter_context(tempfile.TemporaryDirectory())

  def test_nb201_cell_is_a_png_with_the_colours_of_its_ops_only(self):
    path = experiments.cell_picture(os.path.join(self.tmp, "cell.png"), NB201_CELL)
    size, pixels = _read_png(path)
    self.assertEqual(size, NB201_CELL_SIZE)
    self.assertLess(os.path.getsize(path), MAX_BYTES)
    for op in spaces.NB201_OPS[1:]:  # `none` is grey, like the node outlines
      self.assertEqual(_shows_colour(pixels, cell_drawing.op_colour(op, spaces.NB201_OPS)),
                       op in NB201_CELL.ops, op)

  def test_darts_cells_are_a_png_with_the_colours_of_their_ops_only(self):
    path = experiments.cell_picture(os.path.join(self.tmp, "cell.png"), spaces.TENAS_CIFAR10)
    size, pixels = _read_png(path)
    self.assertEqual(size, DARTS_CELL_SIZE)
    self.assertLess(os.path.getsize(path), MAX_BYTES)
    used = {op for cell_type in darts.CELL_TYPES for op, _ in spaces.TENAS_CIFAR10.cell(cell_type)}
    for op in spaces.DARTS_OPS[1:]:
      self.assertEqual(_shows_colour(pixels, cell_drawing.op_colour(op, spaces.DARTS_OPS)),
                       op in used, op)

  def test_an_unknown_genotype_is_refused(self):
    with self.assertRaisesRegex(TypeError, r"NB201Genotype or a DartsGenotype; got str"):
      experiments.cell_picture(os.path.join(self.tmp, "cell.png"), NB201_CELL.to_string())

  def test_edge_names_follow_the_spaces_edge_order(self):
    # Independent truth: the spaces' own edge tables, (node i, input j) per mask edge.
    self.assertEqual(cell_drawing.edge_names(spaces.get_space("nb201")),
                     [f"{j} -> {i}" for i, j in nb201.EDGES])
    inputs = {0: "c_{k-2}", 1: "c_{k-1}"}
    self.assertEqual(cell_drawing.edge_names(spaces.get_space("darts")),
                     [f"{inputs.get(j, j - 2)} -> {k}" for k, j in darts.EDGES])


class TrajectoryPictureTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = self.enter_context(tempfile.TemporaryDirectory())

  def _draw(self, space_name, rounds):
    path = os.path.join(self.tmp, f"{space_name}-{len(rounds)}.png")
    experiments.trajectory_picture(path, spaces.get_space(space_name), rounds)
    size, pixels = _read_png(path)
    self.assertLess(os.path.getsize(path), MAX_BYTES)
    return size, pixels

  def test_nb201_trajectory_has_a_row_per_edge_and_a_column_per_round(self):
    rounds = round_records.nb201_rounds(spaces.get_space("nb201"), NB201_CELL)
    (width, height), pixels = self._draw("nb201", rounds)
    self.assertBetween(width, 700, 1200)
    self.assertBetween(height, 250, 500)
    # A search in progress (state.json) draws too: its edges still hold 3 ops, listed two a
    # line in the last column, so its rows are two lines high.
    (_, one_round_height), _ = self._draw("nb201", rounds[:1])
    self.assertGreater(one_round_height, height)
    self.assertTrue(_shows_colour(pixels, "#f4cccc", 2))  # pruned ops
    self.assertFalse(_shows_colour(pixels, "#f9cb9c", 2))  # no topology round in NB201

  def test_darts_trajectory_shows_both_cells_and_the_topology_cuts(self):
    rounds = round_records.darts_rounds(spaces.get_space("darts"), spaces.TENAS_CIFAR10)
    (width, height), pixels = self._draw("darts", rounds)
    self.assertBetween(width, 700, 1200)
    self.assertBetween(height, 1500, 2200)  # 2 tables of 14 edges, 3 ops removed per round
    for colour in ("#f4cccc", "#f9cb9c", "#d9ead3", "#b6d7a8"):  # pruned, cut, kept, left
      self.assertTrue(_shows_colour(pixels, colour, 2), colour)


class SearchPicturesTest(absltest.TestCase):

  def test_writes_both_pictures_and_names_them_relative_to_the_run(self):
    tmp = self.enter_context(tempfile.TemporaryDirectory())
    space = spaces.get_space("nb201")
    names = experiments.search_pictures(tmp, space, NB201_CELL,
                                        round_records.nb201_rounds(space, NB201_CELL))
    self.assertEqual(names, {"cell": "cell.png", "trajectory": "trajectory.png"})
    self.assertEqual(sorted(os.listdir(tmp)), ["cell.png", "trajectory.png"])  # no temporaries
    self.assertEqual(_read_png(os.path.join(tmp, "cell.png"))[0], NB201_CELL_SIZE)


if __name__ == "__main__":
  absltest.main()
