"""Indicators of fixed cells of any space, as one CSV (the evaluate binary's score mode).

Each cell of an input CSV (an `arch_str` column for NB201, a `genotype_json` column for DARTS) is
scored as `tenas_tf.search.score_masks` scores it (the search's indicator networks and sizes; within
a draw every cell on the same weights and inputs). The output has the columns of the
reference's files (shared/data/reference/*_indicators_visible.csv), so a run on the reference's
cells compares row by row: kappa and #LR per draw and their medians, the ReLU units the region
count records (`lr_hooked_units`) and the NTK parameters that get a gradient (`params_with_grad`),
then TE-NAS's ranks over the cells.
"""

import csv
import dataclasses
import json
import os
import time

from tenas_tf import data as data_lib
from tenas_tf import search
from tenas_tf import spaces
from tenas_tf.experiments import evaluation
from tenas_tf.experiments import run_files

CSV_FILE = "scores.csv"
JSON_FILE = "scores.json"  # the configuration and timing of the run
# The column naming each cell, per space: the genotype's JSON form (`genotype.to_json()`), as
# text.
GENOTYPE_COLUMNS = {"nb201": "arch_str", "darts": "genotype_json"}
NAME_COLUMN = "name"  # copied to the output when the input has it


def genotype_text(genotype):
  """The genotype's JSON form as one CSV field: the arch string, or compact JSON (DARTS)."""
  value = genotype.to_json()
  return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def load_genotypes(path, space):
  """The cells of a CSV file: its genotype column parsed, and its `name` column if any.

  Args:
    path: CSV file with a header and the space's column (`GENOTYPE_COLUMNS`); other columns
      are ignored, except `name`, which is kept.
    space: a `tenas_tf.spaces.registry.SearchSpace`.

  Returns:
    (genotypes, names): the genotypes in file order, and their names (None without a `name`
    column).

  Raises:
    ValueError: the file is missing, lacks the column or has no row, or a row's genotype does
      not parse (the row's line is named).
  """
  column = GENOTYPE_COLUMNS[space.name]
  if not os.path.isfile(path):
    raise ValueError(f"archs file {path!r} does not exist or is not a file")
  genotypes, names = [], []
  with open(path, newline="") as stream:
    reader = csv.DictReader(stream)
    fields = reader.fieldnames or []
    if column not in fields:
      raise ValueError(f"archs file {path!r} needs a {column!r} column for the {space.name} "
                       f"space; its columns are {fields}")
    for row in reader:
      try:
        genotypes.append(space.genotype_from_json(row[column] or ""))
      except ValueError as error:
        raise ValueError(f"archs file {path!r} line {reader.line_num}: {error}") from None
      names.append(row.get(NAME_COLUMN))
  if not genotypes:
    raise ValueError(f"archs file {path!r} lists no cell")
  return genotypes, (names if NAME_COLUMN in fields else None)


def score_cells(config, genotypes, images, run_dir, names=None, progress=None, flag_file=None,
                scorer=None):
  """Scores `genotypes` and writes `run_dir/scores.csv`.

  Args:
    config: `evaluation.IndicatorConfig` (space, data, sizes, draws, seed, init).
    genotypes: genotypes of `config.space` (at least one).
    images: finite tf.data.Dataset of uint8 images of `config.dataset`.
    run_dir: output folder (created).
    names: optional name per genotype, written first as `name`.
    progress: optional callable(done, total) per cell and draw.
    flag_file: optional text of the flags that rerun it, written to `run_dir/evaluate.flags`
      once the run directory is accepted.
    scorer: how the cells are scored (`evaluation.score_cells_of`): None in this process, or
      e.g. `RayWorkers.score_cells`.

  Returns:
    The rows written to `scores.csv` (`scores.json` gets the config and the seconds), one dict
    per cell: [`name`,] the genotype column, `ntk_cond_1..R`,
    `ntk_cond_median`, `lr_1..R`, `lr_median`, `lr_hooked_units`, `params_with_grad`,
    `ntk_rank`, `lr_rank`, `rank_sum` (a non-finite kappa is written `inf` and ranks last).

  Raises:
    ValueError: no genotypes, or names of another length.
  """
  if not genotypes:
    raise ValueError("genotypes must hold at least one cell; got none")
  if names is not None and len(names) != len(genotypes):
    raise ValueError(f"names must give one name per genotype; got {len(names)} for "
                     f"{len(genotypes)}")
  run_files.start_run(run_dir, run_files.SCORES)
  evaluation.write_flag_file(run_dir, flag_file)
  space = spaces.get_space(config.space)
  info = data_lib.dataset_info(config.dataset)
  start = time.time()
  masks = [genotype.alive_mask() for genotype in genotypes]
  ntk, regions = evaluation.score_cells_of(config, masks, images, progress, scorer)
  columns, ranks = evaluation.indicator_columns(ntk, regions)
  sizes = {}
  rows = []
  for index, (genotype, mask) in enumerate(zip(genotypes, masks)):
    if genotype not in sizes:
      sizes[genotype] = search.pruned_network_sizes(
          space, mask, info.num_classes, (info.image_size, info.image_size, 3), config.init)
    hooked, params = sizes[genotype]
    row = {NAME_COLUMN: names[index]} if names is not None else {}
    row[GENOTYPE_COLUMNS[space.name]] = genotype_text(genotype)
    row.update(columns[index])
    row.update(lr_hooked_units=hooked, params_with_grad=params)
    row.update(ranks[index])
    rows.append(row)
  evaluation.write_csv(os.path.join(run_dir, CSV_FILE), rows)
  run_files.write_json(os.path.join(run_dir, JSON_FILE), {
      "config": dataclasses.asdict(config), "cells": len(rows), "seconds": time.time() - start})
  return rows
