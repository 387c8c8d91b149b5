"""The TensorBoard view of a search: a few tags per round, however many candidates it scores.

Event files are read back with `tf.compat.v1.train.summary_iterator`; round records are hand-made
(`round_records`), so no search runs.
"""

import glob
import math
import os
import tempfile

import numpy as np
import tensorflow as tf
from absl.testing import absltest

from tenas_tf import experiments
from tenas_tf import spaces
from tenas_tf.experiments import tensorboard
from tests.experiments import round_records

NB201 = spaces.get_space("nb201")
GENOTYPE = spaces.NB201Genotype.from_string(
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
    "nor_conv_1x1~2|")
ACCURACIES = {"cifar10": 93.76, "cifar100": 70.71, "imagenet16": 41.44}
END_TAGS = {"search/genotype", "search/seconds", "search/cell", "search/trajectory"} | {
    f"search/nb201_accuracy/{dataset}" for dataset in ACCURACIES}


def _events(run_dir):
  """{tag: [(step, plugin, value as an array)]} of the events under `run_dir/tensorboard`."""
  found = {}
  for path in sorted(glob.glob(os.path.join(run_dir, "tensorboard", "events.out.tfevents.*"))):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        found.setdefault(value.tag, []).append(
            (event.step, value.metadata.plugin_data.plugin_name, tf.make_ndarray(value.tensor)))
  return found


def _text(events, tag, step=0):
  [value] = [v for s, _, v in events[tag] if s == step]
  return value.item().decode()


class SearchBoardTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = self.enter_context(tempfile.TemporaryDirectory())

  def _write_rounds(self, name, records):
    run_dir = os.path.join(self.tmp, name)
    board = experiments.SearchBoard(run_dir)
    for record in records:
      board.write_round(record)
    return run_dir

  def test_the_tags_do_not_grow_with_the_candidates(self):
    few = _events(self._write_rounds("few", [round_records.ops_round(NB201, 4)]))
    many = _events(self._write_rounds("many", [round_records.ops_round(NB201, 24)]))
    self.assertEqual(set(few), set(tensorboard.ROUND_TAGS))
    self.assertEqual(set(many), set(few))
    # The candidates live inside the tags: one table row and one histogram count each.
    table = _text(many, "round/candidates")
    self.assertLen(table.splitlines(), 2 + 24)
    [(_, plugin, histogram)] = many["round/ntk_score_histogram"]
    self.assertEqual(plugin, "histograms")
    self.assertEqual(histogram[:, 2].sum(), 24)

  def test_a_quick_nb201_search_writes_a_small_fixed_set_of_tags(self):
    rounds = round_records.nb201_rounds(NB201, GENOTYPE)
    run_dir = self._write_rounds("search", rounds)
    pictures = experiments.search_pictures(run_dir, NB201, GENOTYPE, rounds)
    board = experiments.SearchBoard(run_dir)
    board.write_result({"genotype": GENOTYPE.to_json(), "seconds": 42.0, "rounds": rounds,
                        "accuracies": ACCURACIES, "pictures": pictures})
    events = _events(run_dir)
    self.assertEqual(set(events), set(tensorboard.ROUND_TAGS) | END_TAGS)
    self.assertLen(events, 13)
    self.assertEqual([step for step, _, _ in events["round/seconds"]], [0, 1, 2])
    self.assertEqual([float(v) for _, _, v in events["round/seconds"]],
                     [r["seconds"] for r in rounds])
    self.assertEqual(_text(events, "search/genotype", 3), f"`{GENOTYPE.to_string()}`")
    for dataset, accuracy in ACCURACIES.items():
      [(_, _, value)] = events[f"search/nb201_accuracy/{dataset}"]
      self.assertAlmostEqual(float(value), accuracy, places=4)
    for name, file_name in pictures.items():
      [(step, plugin, image)] = events[f"search/{name}"]
      self.assertEqual((step, plugin), (3, "images"))
      width, height = int(image[0]), int(image[1])  # the image plugin's [width, height, png]
      png = tf.io.decode_png(image[2])
      self.assertEqual(png.shape[:2], (height, width))
      with open(os.path.join(run_dir, file_name), "rb") as stream:
        self.assertEqual(tf.io.decode_png(stream.read(), channels=3).shape, png.shape)

  def test_pruned_ops_and_the_table_name_ranks_and_non_finite_scores(self):
    record = round_records.ops_round(NB201, 6)
    record["scores"][2]["ntk"] = -math.inf  # removing that op makes the kernel singular
    record["warnings"] = ["non-finite or zero indicator"]
    events = _events(self._write_rounds("round", [record]))
    pruned = record["pruned"][0]
    self.assertIn(f"- {pruned['op']} on cell edge {pruned['edge']} (rank sum 0)",
                  _text(events, "round/pruned"))
    self.assertIn("non-finite or zero indicator", _text(events, "round/pruned"))
    table = _text(events, "round/candidates").splitlines()
    self.assertEqual(table[0], "| cell | edge | op | NTK score | LR score | NTK rank | LR rank | "
                               "rank sum | pruned |")
    self.assertTrue(table[2].endswith("| 0 | yes |"))  # the lowest rank sum first, pruned
    self.assertTrue(any("| -inf |" in row for row in table))
    [(_, _, histogram)] = events["round/ntk_score_histogram"]
    self.assertEqual(histogram[:, 2].sum(), 5)  # the infinite score is left out
    self.assertTrue(np.isfinite(histogram).all())

  def test_a_darts_genotype_is_written_per_cell_type(self):
    rounds = round_records.darts_rounds(spaces.get_space("darts"), spaces.TENAS_CIFAR10)
    run_dir = self._write_rounds("darts", rounds)
    experiments.SearchBoard(run_dir).write_result(
        {"genotype": spaces.TENAS_CIFAR10.to_json(), "seconds": 1.0, "rounds": rounds})
    events = _events(run_dir)
    self.assertEqual(set(events), set(tensorboard.ROUND_TAGS) | {"search/genotype",
                                                                 "search/seconds"})
    text = _text(events, "search/genotype", len(rounds))
    self.assertStartsWith(text, "normal: `[['dil_conv_3x3', 0], ")
    self.assertIn("\n\nreduce: `[['sep_conv_5x5', 0], ", text)
    self.assertIn("topology round of normal node 1 (edges cut)", _text(events, "round/pruned", 2))


if __name__ == "__main__":
  absltest.main()
