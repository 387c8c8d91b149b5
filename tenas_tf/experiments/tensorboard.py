"""TensorBoard view of a search: per round, every candidate's scores and ranks, and timings.

`tensorboard --logdir RUN_DIR/tensorboard` shows, with the round as the step, the NTK and LR score
of each candidate (`ntk_score/edge2/nor_conv_3x3`), its rank sum, the round's seconds, and the
genotype as text when the search ends.
"""

import json
import os

import tensorflow as tf


class SearchBoard:
  """Writes a search's records as TensorBoard summaries under `run_dir/tensorboard`."""

  def __init__(self, run_dir):
    self._writer = tf.summary.create_file_writer(os.path.join(run_dir, "tensorboard"))

  def write_round(self, record):
    step = record["round"]
    with self._writer.as_default(step=step):
      for score, rank in zip(record["scores"], record["ranks"]):
        tag = f"{score['cell']}/edge{score['edge']}/{score['op']}"
        tf.summary.scalar(f"ntk_score/{tag}", score["ntk"])
        tf.summary.scalar(f"lr_score/{tag}", score["lr"])
        tf.summary.scalar(f"rank_sum/{tag}", rank["sum"])
      tf.summary.scalar("round/seconds", record["seconds"])
      tf.summary.scalar("round/candidates", len(record["scores"]))
      tf.summary.text("round/pruned", ", ".join(
          f"{p['op']} on {p['cell']} edge {p['edge']}" for p in record["pruned"]))
    self._writer.flush()

  def write_result(self, result):
    with self._writer.as_default(step=len(result["rounds"])):
      genotype = result["genotype"]  # an NB201 arch string, or a DARTS genotype's JSON dict
      tf.summary.text("genotype", genotype if isinstance(genotype, str) else json.dumps(genotype))
      tf.summary.scalar("search/seconds", result["seconds"])
      for dataset, accuracy in (result.get("accuracies") or {}).items():
        tf.summary.scalar(f"nb201_test_accuracy/{dataset}", accuracy)
    self._writer.flush()
