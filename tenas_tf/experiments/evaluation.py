"""How well the TE-NAS indicators of fixed NB201 cells predict their trained accuracies.

Cells are scored the reference's way (`tenas_tf.search.score_masks`: single-path masks on the
indicator supernets, weights and inputs shared by all cells within a draw), and the medians over
the draws are rank-correlated with the NAS-Bench-201 test accuracies:

- NTK: -log(kappa median) (a small kappa is good); a non-finite kappa is worse than every finite
  one (all such cells tie);
- LR: the #LR median (more regions is good);
- combined: minus TE-NAS's rank sum (`search.combined_ranks`), ranked within the cells correlated.

Each is reported over all cells and over the non-degenerate ones (CIFAR-10 accuracy above 15 %:
the 341 NB201 cells at 10 % have their input cut off from their output).
Reference: shared/data/reference/README.md ("Kendall tau on the visible 30 rows").
"""

import csv
import dataclasses
import json
import math
import os
import time

import numpy as np

from tenas_tf import checks
from tenas_tf import data as data_lib
from tenas_tf import search
from tenas_tf import spaces
from tenas_tf.experiments import correlation
from tenas_tf.experiments import nb201_table
from tenas_tf.experiments import run_files
from tenas_tf.experiments import search_run

FLAG_FILE = "evaluate.flags"  # the flags that rerun an evaluation, written once it is accepted
CSV_FILE = "correlation.csv"
JSON_FILE = "correlation.json"
# Cells at or below this CIFAR-10 accuracy (%) are degenerate (chance is 10 %).
DEGENERATE_ACCURACY = 15.0
INDICATORS = ("ntk", "lr", "combined")
DATASET_LABELS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16": "ImageNet16-120"}
PLOT_FILES = {"ntk": "scatter_ntk_cifar10.png", "lr": "scatter_lr_cifar10.png",
              "combined": "scatter_combined_cifar10.png"}


@dataclasses.dataclass(frozen=True)
class IndicatorConfig:
  """What determines the indicator values of fixed cells (`tenas_tf.search.score_masks`).

  Attributes:
    space: search space name (`tenas_tf.spaces.registry.SPACES`).
    dataset: dataset of the indicator inputs (`tenas_tf.data.DATASETS`).
    data_source: where the images came from (e.g. the npz paths).
    draws: independent draws of weights and inputs per cell.
    batch_size: NTK batch size (72 in the reference).
    lr_batch_size, lr_batches: linear-region samples per count (3 x 1000 in the reference).
    seed: seeds every draw (and the sample of cells drawn from a table).
    init: initialisation scheme of the indicator networks.
  """

  space: str
  dataset: str
  data_source: str
  draws: int
  batch_size: int
  lr_batch_size: int
  lr_batches: int
  seed: int
  init: str

  def __post_init__(self):
    spaces.get_space(self.space)
    data_lib.dataset_info(self.dataset)
    for name, minimum in (("draws", 1), ("batch_size", 2), ("lr_batch_size", 1),
                          ("lr_batches", 1)):
      checks.integer(name, getattr(self, name), minimum=minimum)


@dataclasses.dataclass(frozen=True)
class CorrelationConfig(IndicatorConfig):
  """What determines the indicator values of a correlation run: an `IndicatorConfig` whose
  space is "nb201" (the only space with a table of accuracies)."""

  def __post_init__(self):
    if self.space != "nb201":
      raise ValueError(f"space must be 'nb201' for a correlation with NB201 accuracies; "
                       f"got {self.space!r}")
    super().__post_init__()


def cell_scorer(config, masks, images):
  """`search.mask_scorer` of `masks` under `config`: supernets built once, scoring any draws.

  In this process `score_cells_of` scores every draw with it; each Ray worker builds it once and
  scores its shares (`RayWorkers.score_cells`), with the same values.
  """
  info = data_lib.dataset_info(config.dataset)
  ntk_batches, lr_batches = search_run.indicator_streams(images, info, config.batch_size,
                                                         config.lr_batch_size)
  return search.mask_scorer(
      spaces.get_space(config.space), masks, ntk_batches, lr_batches,
      num_classes=info.num_classes, input_shape=(info.image_size, info.image_size, 3),
      lr_batches_per_draw=config.lr_batches, seed=config.seed, init=config.init)


def score_cells_of(config, masks, images, progress=None, scorer=None):
  """kappa_NTK and #LR [cells, draws] of `masks` under `config` (`tenas_tf.search.score_masks`).

  Args:
    config: `IndicatorConfig`.
    masks: the cells' alive masks.
    images: finite tf.data.Dataset of uint8 images of `config.dataset`.
    progress: optional callable(done, total) per cell and draw.
    scorer: None to score in this process, or callable(config, masks, progress) -> the same
      arrays, e.g. `RayWorkers.score_cells` (the same values, spread over workers).
  """
  if scorer is not None:
    return scorer(config, masks, progress)
  return cell_scorer(config, masks, images)(range(config.draws), progress=progress)


def load_arch_strings(path, accuracies):
  """The `arch_str` column of a CSV file, each checked to parse and to be in the table.

  Args:
    path: CSV file with a header and an `arch_str` column (other columns are ignored), e.g.
      shared/data/reference/nb201_indicators_visible.csv.
    accuracies: {arch_str: ...}, the NB201 table (`nb201_table.load_accuracies`).

  Returns:
    list of arch strings, in file order.

  Raises:
    ValueError: the file is missing, lacks the column, lists fewer than 2 cells, or a row holds a
      malformed arch string or one missing from the table (the row's line is named).
  """
  if not os.path.isfile(path):
    raise ValueError(f"archs file {path!r} does not exist or is not a file")
  arch_strs = []
  with open(path, newline="") as stream:
    reader = csv.DictReader(stream)
    if "arch_str" not in (reader.fieldnames or []):
      raise ValueError(f"archs file {path!r} has no 'arch_str' column; its columns are "
                       f"{reader.fieldnames}")
    for row in reader:
      arch_str = row["arch_str"]
      where = f"archs file {path!r} line {reader.line_num}"
      try:
        genotype = spaces.NB201Genotype.from_string(arch_str or "")
      except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
      if genotype.to_string() not in accuracies:
        raise ValueError(f"{where}: arch string {arch_str!r} is not in the nb201_table")
      arch_strs.append(genotype.to_string())
  if len(arch_strs) < 2:
    raise ValueError(f"archs file {path!r} must list at least 2 cells to correlate; got "
                     f"{len(arch_strs)}")
  return arch_strs


def sample_arch_strings(accuracies, num_archs, seed):
  """`num_archs` distinct cells of the table, drawn with `numpy.random.default_rng(seed)`.

  Raises:
    ValueError: if `num_archs` is not an int in [2, number of cells in the table].
  """
  if (not isinstance(num_archs, int) or isinstance(num_archs, bool)
      or not 2 <= num_archs <= len(accuracies)):
    raise ValueError(f"num_archs must be an int between 2 and the table's {len(accuracies)} "
                     f"cells; got {num_archs!r}")
  names = list(accuracies)
  chosen = np.random.default_rng(seed).choice(len(names), num_archs, replace=False)
  return [names[int(i)] for i in chosen]


def _median_or_integral(value):
  value = float(value)
  return int(value) if value.is_integer() else value


def indicator_columns(ntk, regions):
  """Per cell, the indicator columns of a CSV row and the TE-NAS ranks over all cells.

  Args:
    ntk, regions: [cells, draws] condition numbers and region counts (`score_masks`).

  Returns:
    (columns, ranks): per cell a dict `ntk_cond_1..R`, `ntk_cond_median`, `lr_1..R`,
    `lr_median` (a non-finite kappa written as `inf`, see `search.finite_or_inf`), and per cell
    a dict `ntk_rank`, `lr_rank`, `rank_sum` (`search.combined_ranks` of the medians).
  """
  ntk = search.finite_or_inf(ntk)
  regions = np.asarray(regions)
  kappa_median = np.median(ntk, axis=1)
  lr_median = np.median(regions, axis=1)
  kappa_rank, lr_rank, rank_sum = search.combined_ranks(kappa_median, lr_median)
  columns, ranks = [], []
  for i in range(len(ntk)):
    row = {f"ntk_cond_{d + 1}": float(v) for d, v in enumerate(ntk[i])}
    row["ntk_cond_median"] = float(kappa_median[i])
    row.update({f"lr_{d + 1}": int(round(v)) for d, v in enumerate(regions[i])})
    row["lr_median"] = _median_or_integral(lr_median[i])
    columns.append(row)
    ranks.append({"ntk_rank": int(kappa_rank[i]), "lr_rank": int(lr_rank[i]),
                  "rank_sum": int(rank_sum[i])})
  return columns, ranks


def cell_rows(arch_strs, ntk, regions, accuracies):
  """One dict per cell: the CSV row (`ntk_cond_d`, `lr_d` per draw, medians, ranks, accuracies).

  Non-finite condition numbers are written as `inf` (see `search.finite_or_inf`).
  """
  columns, ranks = indicator_columns(ntk, regions)
  rows = []
  for arch_str, indicator_row, rank_row in zip(arch_strs, columns, ranks):
    row = {"arch_str": arch_str, **indicator_row}
    row.update({column: accuracies[arch_str][key]
                for key, column in nb201_table.ACCURACY_COLUMNS.items()})
    row.update(rank_row)
    rows.append(row)
  return rows


def indicator_values(rows):
  """{"ntk", "lr", "combined"} -> finite float arrays, larger meaning better, over `rows`.

  ntk: -log(kappa median), a non-finite kappa set below every finite value; lr: #LR median;
  combined: minus the rank sum recomputed within `rows`.
  """
  kappa = np.array([row["ntk_cond_median"] for row in rows], dtype=np.float64)
  regions = np.array([row["lr_median"] for row in rows], dtype=np.float64)
  finite = np.isfinite(kappa)
  ntk = np.zeros(len(rows))
  ntk[finite] = -np.log(kappa[finite])
  ntk[~finite] = (ntk[finite].min() if finite.any() else 0.0) - 1.0
  _, _, rank_sum = search.combined_ranks(kappa, regions)
  return {"ntk": ntk, "lr": regions, "combined": -rank_sum.astype(np.float64)}


def _finite_or_none(value):
  return value if math.isfinite(value) else None


def correlations(rows):
  """Kendall tau and Spearman rho of each indicator against each NB201 accuracy.

  Returns:
    {"cells": n, dataset: {indicator: {"kendall_tau": float | None, "spearman_rho": ..}}};
    None where undefined (fewer than 2 cells, or one side constant), so the JSON has no NaN.
  """
  result = {"cells": len(rows)}
  values = indicator_values(rows) if rows else {}
  for dataset in nb201_table.ACCURACY_COLUMNS:
    accuracy = [row[nb201_table.ACCURACY_COLUMNS[dataset]] for row in rows]
    result[dataset] = {}
    for indicator in INDICATORS:
      if len(rows) < 2:
        result[dataset][indicator] = {"kendall_tau": None, "spearman_rho": None}
        continue
      result[dataset][indicator] = {
          "kendall_tau": _finite_or_none(correlation.kendall_tau(values[indicator], accuracy)),
          "spearman_rho": _finite_or_none(correlation.spearman_rho(values[indicator], accuracy))}
  return result


def single_draw_taus(rows, draws):
  """Kendall tau against CIFAR-10 of each draw alone: what the median over `draws` adds.

  Args:
    rows: cell rows (`cell_rows`), e.g. the non-degenerate ones.
    draws: the number of draws in the rows (`ntk_cond_1..draws`, `lr_1..draws`).

  Returns:
    one {indicator: tau or None} per draw, computed as `correlations` computes the medians'
    (the combined rank re-ranked within `rows` from that draw's values).
  """
  taus = []
  for draw in range(1, draws + 1):
    draw_rows = [{**row, "ntk_cond_median": row[f"ntk_cond_{draw}"],
                  "lr_median": row[f"lr_{draw}"]} for row in rows]
    cifar10 = correlations(draw_rows)["cifar10"]
    taus.append({indicator: cifar10[indicator]["kendall_tau"] for indicator in INDICATORS})
  return taus


def is_degenerate(row):
  return row[nb201_table.ACCURACY_COLUMNS["cifar10"]] <= DEGENERATE_ACCURACY


def format_table(summary):
  """The correlations of a summary as a plain-text table (tau / rho per cell)."""
  lines = []
  for subset, title in (("all", "all cells"), ("non_degenerate", "non-degenerate cells")):
    block = summary["correlations"][subset]
    lines.append(f"Kendall tau / Spearman rho, {title} ({block['cells']}):")
    lines.append(f"{'accuracy':<16}" + "".join(f"{name:>16}" for name in INDICATORS))
    for dataset, label in DATASET_LABELS.items():
      cells = []
      for indicator in INDICATORS:
        pair = block[dataset][indicator]
        cells.append(" / ".join("n/a" if pair[k] is None else f"{pair[k]:.3f}"
                                for k in ("kendall_tau", "spearman_rho")))
      lines.append(f"{label:<16}" + "".join(f"{c:>16}" for c in cells))
    lines.append("")
  for draw, taus in enumerate(summary.get("single_draw_kendall_tau", []), 1):
    lines.append(f"draw {draw} alone, CIFAR-10 tau, non-degenerate cells: " + ", ".join(
        f"{indicator} " + ("n/a" if taus[indicator] is None else f"{taus[indicator]:.3f}")
        for indicator in INDICATORS))
  return "\n".join(lines)


def write_csv(path, rows):
  """Writes `rows` (dicts with the same keys, in column order) to `path`, atomically."""
  folder = os.path.dirname(path)
  temporary = os.path.join(folder, f".tmp-{os.path.basename(path)}")
  with open(temporary, "w", newline="") as stream:
    writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  os.replace(temporary, path)


def _non_finite_records(arch_strs, ntk):
  records = []
  for i, draw in zip(*np.nonzero(~np.isfinite(np.asarray(ntk, dtype=np.float64)))):
    cause = ("non-finite kernel (NaN)" if math.isnan(ntk[i, draw])
             else "singular kernel (lambda_min <= 0)")
    records.append({"arch_str": arch_strs[i], "draw": int(draw) + 1, "cause": cause})
  return records


def evaluate_correlation(config, arch_strs, accuracies, images, run_dir, progress=None,
                         flag_file=None, scorer=None):
  """Scores `arch_strs`, correlates them with the table and writes the run directory.

  Writes into `run_dir`: `correlation.csv` (one row per cell: `arch_str`, `ntk_cond_1..R`,
  `ntk_cond_median`, `lr_1..R`, `lr_median`, the three test accuracies, then `ntk_rank`,
  `lr_rank`, `rank_sum` over all cells; a non-finite kappa is written `inf`), `correlation.json`
  (the summary returned) and one scatter plot per indicator against CIFAR-10 accuracy.

  Args:
    config: `CorrelationConfig`.
    arch_strs: NB201 arch strings, all in `accuracies` (>= 2).
    accuracies: the NB201 table (`nb201_table.load_accuracies`).
    images: finite tf.data.Dataset of uint8 images of `config.dataset`.
    run_dir: output folder (created).
    progress: optional callable(done, total) per cell and draw.
    flag_file: optional text of the flags that rerun it, written to `run_dir/evaluate.flags`
      once the run directory is accepted.
    scorer: how the cells are scored (`score_cells_of`): None in this process, or e.g.
      `RayWorkers.score_cells`.

  Returns:
    The summary dict: `config`, `cells`, `correlations` ({"all", "non_degenerate"}: see
    `correlations`), `single_draw_kendall_tau` (`single_draw_taus` of the non-degenerate cells),
    `median_log10_kappa`, `median_lr`, `non_finite_kappa` (one record per cell
    and draw), `plots`, `seconds`.

  Raises:
    ValueError: fewer than 2 cells, or a cell missing from `accuracies`.
  """
  if len(arch_strs) < 2:
    raise ValueError(f"need at least 2 cells to correlate; got {len(arch_strs)}")
  missing = [a for a in arch_strs if a not in accuracies]
  if missing:
    raise ValueError(f"cells not in the NB201 table: {missing[:3]}")
  run_files.start_run(run_dir, run_files.CORRELATION)
  write_flag_file(run_dir, flag_file)
  start = time.time()
  masks = [spaces.NB201Genotype.from_string(a).alive_mask() for a in arch_strs]
  ntk, regions = score_cells_of(config, masks, images, progress, scorer)
  rows = cell_rows(arch_strs, ntk, regions, accuracies)
  kappa = np.array([row["ntk_cond_median"] for row in rows])
  non_degenerate = [row for row in rows if not is_degenerate(row)]
  summary = {
      "config": dataclasses.asdict(config),
      "cells": len(rows),
      "correlations": {"all": correlations(rows), "non_degenerate": correlations(non_degenerate)},
      "single_draw_kendall_tau": single_draw_taus(non_degenerate, config.draws),
      "median_log10_kappa": (float(np.median(np.log10(kappa[np.isfinite(kappa)])))
                             if np.isfinite(kappa).any() else None),
      "median_lr": float(np.median([row["lr_median"] for row in rows])),
      "non_finite_kappa": _non_finite_records(arch_strs, ntk),
      "plots": dict(PLOT_FILES),
      "seconds": time.time() - start,
  }
  write_csv(os.path.join(run_dir, CSV_FILE), rows)
  _write_plots(run_dir, rows, summary["correlations"]["all"]["cifar10"])
  run_files.write_atomic(os.path.join(run_dir, JSON_FILE),
                         json.dumps(summary, indent=2, allow_nan=False) + "\n")
  return summary


def write_flag_file(run_dir, flag_file):
  """Writes `flag_file` (text, or None for none) to `run_dir/evaluate.flags`."""
  if flag_file is not None:
    run_files.write_atomic(os.path.join(run_dir, FLAG_FILE), flag_file)


def _write_plots(run_dir, rows, taus):
  # Imported here: only the plots need matplotlib, which takes a while to import.
  from tenas_tf.experiments import plots  # pylint: disable=g-import-not-at-top

  accuracy = [row[nb201_table.ACCURACY_COLUMNS["cifar10"]] for row in rows]
  kappa = np.array([row["ntk_cond_median"] for row in rows], dtype=np.float64)
  x_values = {"ntk": np.log10(kappa), "lr": [row["lr_median"] for row in rows],
              "combined": [row["rank_sum"] for row in rows]}
  x_labels = {"ntk": "log10 kappa_NTK (median over draws)",
              "lr": "#linear regions (median over draws)",
              "combined": "TE-NAS rank sum (lower is better)"}
  # `taus` are of the indicators oriented "larger is better" (-log kappa, #LR, -rank sum); the
  # title states the tau of the plotted x, so kappa's and the rank sum's change sign (Kendall
  # tau is odd in each argument). Name in the title, sign, which way is better.
  titles = {"ntk": ("log10 kappa", -1, "smaller kappa is better"),
            "lr": ("#LR", 1, "more linear regions is better"),
            "combined": ("rank sum", -1, "a lower rank sum is better")}
  for indicator in INDICATORS:
    tau = taus[indicator]["kendall_tau"]
    name, sign, better = titles[indicator]
    plots.indicator_scatter(
        os.path.join(run_dir, PLOT_FILES[indicator]), x_values[indicator], accuracy,
        xlabel=x_labels[indicator], ylabel="CIFAR-10 test accuracy (%)",
        title=plots.tau_title(name, None if tau is None else sign * tau,
                              cells=f"{len(rows)} NB201", better=better))
