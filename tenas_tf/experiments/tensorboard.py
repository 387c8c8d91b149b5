"""TensorBoard view of a search: a few tags per round, whatever the number of candidates.

`tensorboard --logdir RUN_DIR/tensorboard` shows, with the round as the step:

  round/ntk_score_histogram   histogram of the candidates' NTK scores (relative kappa drops)
  round/lr_score_histogram    histogram of their LR scores (relative #LR drops)
  round/pruned                text: the ops pruned (op, cell, edge, rank sum) and any warnings
  round/candidates            text: a markdown table of every candidate (edge, op, scores,
                              ranks, rank sum), lowest rank sum (pruned first) on top
  round/num_candidates        scalar
  round/seconds               scalar

and, when the search ends: `search/genotype` (text), `search/seconds`, the NB201 table's
accuracies of the found cell when given (`search/nb201_accuracy/<dataset>`), and the two
pictures of the run directory (`search/cell`, `search/trajectory`). Non-finite scores (a
singular kernel) have no place in a histogram; they appear in the table.
"""

import math
import os

import numpy as np
import tensorflow as tf

ROUND_TAGS = ("round/ntk_score_histogram", "round/lr_score_histogram", "round/pruned",
              "round/candidates", "round/num_candidates", "round/seconds")


def _number(value):
  return f"{value:.4g}" if isinstance(value, float) else str(value)


def candidates_table(record):
  """A round's candidates as a markdown table, lowest rank sum (pruned first) on top."""
  pruned = {(p["cell"], p["edge"], p["op"]) for p in record["pruned"]}
  rows = sorted(zip(record["scores"], record["ranks"]),
                key=lambda pair: (pair[1]["sum"], pair[1]["cell"], pair[1]["edge"]))
  lines = ["| cell | edge | op | NTK score | LR score | NTK rank | LR rank | rank sum | pruned |",
           "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
  for score, rank in rows:
    key = (rank["cell"], rank["edge"], rank["op"])
    lines.append(f"| {rank['cell']} | {rank['edge']} | {rank['op']} | {_number(score['ntk'])} | "
                 f"{_number(score['lr'])} | {rank['ntk']} | {rank['lr']} | {rank['sum']} | "
                 f"{'yes' if key in pruned else ''} |")
  return "\n".join(lines)


def pruned_text(record):
  """The ops a round pruned, with their rank sums, and the round's warnings, as markdown."""
  sums = {(r["cell"], r["edge"], r["op"]): r["sum"] for r in record["ranks"]}
  what = ("ops round" if record["kind"] == "ops" else
          f"topology round of {record['cell']} node {record['node']} (edges cut)")
  lines = [f"{what}, {len(record['scores'])} candidates:", ""]
  lines += [f"- {p['op']} on {p['cell']} edge {p['edge']} (rank sum "
            f"{sums[p['cell'], p['edge'], p['op']]})" for p in record["pruned"]]
  if record["warnings"]:
    lines += ["", "warnings:", ""] + [f"- {warning}" for warning in record["warnings"]]
  return "\n".join(lines)


def _finite(values):
  values = np.asarray(values, dtype=np.float64)
  return values[np.isfinite(values)]


def _genotype_text(genotype):
  """An NB201 arch string or a DARTS genotype's JSON dict, as markdown (code spans keep the
  arch string's bars from reading as a table)."""
  if isinstance(genotype, str):
    return f"`{genotype}`"
  return "\n\n".join(f"{cell_type}: `{genotype[cell_type]}`" for cell_type in ("normal", "reduce")
                     if cell_type in genotype) or f"`{genotype}`"


class SearchBoard:
  """Writes a search's records as TensorBoard summaries under `run_dir/tensorboard`.

  Example:
    >>> board = SearchBoard(run_dir)
    >>> board.write_round(record)   # after each round
    >>> board.write_result(result)  # once, with result.json's dict
  """

  def __init__(self, run_dir):
    self._run_dir = run_dir
    self._writer = tf.summary.create_file_writer(os.path.join(run_dir, "tensorboard"))

  def write_round(self, record):
    """Writes one round record (`tenas_tf.search.prune_round`) at step `record["round"]`."""
    with self._writer.as_default(step=record["round"]):
      for indicator in ("ntk", "lr"):
        tf.summary.histogram(f"round/{indicator}_score_histogram",
                             _finite([score[indicator] for score in record["scores"]]))
      tf.summary.text("round/pruned", pruned_text(record))
      tf.summary.text("round/candidates", candidates_table(record))
      tf.summary.scalar("round/num_candidates", len(record["scores"]))
      tf.summary.scalar("round/seconds", record["seconds"])
    self._writer.flush()

  def write_result(self, result):
    """Writes the end of a search: result.json's dict, with its `pictures` read from the run
    directory when it names them."""
    with self._writer.as_default(step=len(result["rounds"])):
      tf.summary.text("search/genotype", _genotype_text(result["genotype"]))
      tf.summary.scalar("search/seconds", result["seconds"])
      for dataset, accuracy in (result.get("accuracies") or {}).items():
        if accuracy is not None and math.isfinite(accuracy):
          tf.summary.scalar(f"search/nb201_accuracy/{dataset}", accuracy)
      for name, file_name in (result.get("pictures") or {}).items():
        png = tf.io.read_file(os.path.join(self._run_dir, file_name))
        tf.summary.image(f"search/{name}", tf.io.decode_png(png, channels=3)[tf.newaxis])
    self._writer.flush()
