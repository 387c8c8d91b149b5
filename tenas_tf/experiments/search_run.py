"""A whole search into a run directory: networks, data streams, rounds, state and result files.

Run directory:
  state.json   after every round: the configuration and the finished rounds (resume point).
  result.json  at the end: genotype (`genotype.to_json()`: the arch string for NB201, the
               {"normal": .., "normal_concat": .., "reduce": .., "reduce_concat": ..} dict for
               DARTS), seconds, rounds, seed, versions, settings, warnings, and the NB201 table
               accuracies when a table is given.
  cell.png, trajectory.png  at the end: the cell found and, per round and edge, the ops pruned
               with their rank sums (result.json's `pictures`).
  tensorboard/ per round: score histograms, the pruned ops, a table of the candidates, timings;
               at the end the genotype and the pictures
               (`tensorboard --logdir RUN_DIR/tensorboard`).
A rerun with the same configuration resumes after the last finished round, or returns the
finished result; a different configuration in the same directory is refused.
"""

import dataclasses
import logging
import os
import platform
import time

import numpy as np
import tensorflow as tf
import keras

import tenas_tf
from tenas_tf import checks
from tenas_tf import data as data_lib
from tenas_tf import search
from tenas_tf import spaces
from tenas_tf.experiments import pictures
from tenas_tf.experiments import run_files
from tenas_tf.experiments import tensorboard

log = logging.getLogger("tenas_tf.search")

STATE_FILE = "state.json"
RESULT_FILE = "result.json"
FLAG_FILE = "search.flags"


@dataclasses.dataclass(frozen=True)
class SearchConfig:
  """Everything that determines a search's outcome (the run directory's identity).

  Attributes:
    space: search space name (`tenas_tf.spaces.registry.SPACES`).
    dataset: dataset name (`tenas_tf.data.DATASETS`); sets input size, normalisation, classes.
    data_source: a description of where the images came from (e.g. the npz paths).
    batch_size: NTK batch size (72 for NB201 in the paper).
    lr_batch_size: samples per linear-region batch (1000).
    settings: `search.PruneSettings`.
  """

  space: str
  dataset: str
  data_source: str
  batch_size: int
  lr_batch_size: int
  settings: search.PruneSettings

  def __post_init__(self):
    alive_per_edge = int(spaces.get_space(self.space).initial_mask().sum(axis=-1).max())
    if self.settings.prune_number >= alive_per_edge:
      raise ValueError(
          f"prune_number must be below the {alive_per_edge} ops an edge of the {self.space} space "
          f"starts with (pruning them all would empty the edge); got {self.settings.prune_number}")
    data_lib.dataset_info(self.dataset)
    checks.integer("batch_size", self.batch_size, minimum=2, why="the NTK needs 2 samples")
    checks.integer("lr_batch_size", self.lr_batch_size, minimum=1)

  def to_json(self):
    return dataclasses.asdict(self)


def indicator_streams(images, info, batch_size, lr_batch_size):
  """(seed) -> NTK batches and (seed) -> linear-region samples of `images`, as the search takes
  them (`tenas_tf.search.te_nas_indicators`)."""
  return (lambda seed: data_lib.ntk_batches(images, info, batch_size, seed),
          lambda seed: data_lib.linear_region_batches(images, info, lr_batch_size, seed))


def seed_process(config):
  """Seeds this process with the search's seed, as every process scoring it must:
  `Dataset.shuffle` combines TF's global seed with its own (and Ray workers take the seed of the
  process that sends them candidates)."""
  keras.utils.set_random_seed(config.settings.seed)


def search_indicators(config, images):
  """The search's indicators (`search.te_nas_indicators`) on its supernets, built here.

  What `run` scores with, and what each Ray worker builds once; the process is seeded first
  (`seed_process`).
  """
  space = spaces.get_space(config.space)
  info = data_lib.dataset_info(config.dataset)
  settings = config.settings
  seed_process(config)
  ntk_net = space.ntk_network(info.num_classes, (info.image_size, info.image_size, 3),
                              settings.init)
  lr_net = space.linear_region_network(info.num_classes, settings.init)
  ntk_batches, lr_batches = indicator_streams(images, info, config.batch_size,
                                              config.lr_batch_size)
  return search.te_nas_indicators(ntk_net, lr_net, ntk_batches, lr_batches, settings)


def versions():
  return {"tenas_tf": tenas_tf.__version__, "tensorflow": tf.__version__,
          "keras": keras.__version__, "numpy": np.__version__,
          "python": platform.python_version()}


def _load_state(run_dir, config):
  """Finished rounds recorded in `run_dir` for `config`; refuses another configuration's files."""
  for name in (RESULT_FILE, STATE_FILE):
    path = os.path.join(run_dir, name)
    if os.path.exists(path):
      saved = run_files.read_json(path)
      if saved.get("config") != config.to_json():
        raise ValueError(
            f"run_dir {run_dir!r} holds a search with another configuration ("
            f"{run_files.differences(saved.get('config'), config.to_json())}); rerun with the "
            f"run's own settings to resume it, or use a new run directory")
      return name, saved
  return None, None


def check_resumable(config, run_dir):
  """Raises ValueError if `run_dir` holds another kind of run or a search of another config.

  Lets a caller that runs several searches (`seed_study`) refuse before it touches any of them.
  """
  if run_files.run_kind(run_dir) not in (None, run_files.SEARCH):
    run_files.start_run(run_dir, run_files.SEARCH)  # raises, naming the kind found
  _load_state(run_dir, config)


def run(config, images, run_dir, accuracies=None, progress=None, flag_file=None, scorer=None):
  """Runs (or resumes, or returns) the search of `config` on `images` in `run_dir`.

  Args:
    config: `SearchConfig`.
    images: finite tf.data.Dataset of uint8 [H, W, 3] images (`tenas_tf.data.load_images`).
    run_dir: output folder (created).
    accuracies: optional {arch_str: {dataset: accuracy}} (NB201 table) to report the found cell's
      (NB201 only).
    progress: optional callable(round_index, done, total).
    flag_file: optional text of the command-line flags that rerun this search, written to
      `run_dir/search.flags` once the run is accepted (a refused rerun leaves the run's files as
      they were; a finished one is not rewritten).
    scorer: how a round's candidates are scored: None in this process, or e.g.
      `RayWorkers.search_scorer(config)` (the same values, spread over workers).

  Returns:
    The result dict written to `run_dir/result.json`.
  """
  if accuracies is not None and config.space != "nb201":
    raise ValueError(f"accuracies from an NB201 table apply to the nb201 space only; the search "
                     f"space is {config.space!r}")
  run_files.start_run(run_dir, run_files.SEARCH)
  found, saved = _load_state(run_dir, config)
  if found == RESULT_FILE:
    log.info("%s already holds a finished search; not redoing it", run_dir)
    return saved
  if flag_file is not None:
    run_files.write_atomic(os.path.join(run_dir, FLAG_FILE), flag_file)
  finished_rounds = saved["rounds"] if saved else []
  elapsed_before = saved["seconds"] if saved else 0.0
  if finished_rounds:
    log.info("resuming %s after %d finished rounds", run_dir, len(finished_rounds))

  space = spaces.get_space(config.space)
  settings = config.settings
  start = time.time()
  if scorer is None:
    indicators = search_indicators(config, images)
  else:  # the scorer's workers build and trace the supernets; this process only seeds itself
    seed_process(config)
    indicators = None
  board = tensorboard.SearchBoard(run_dir)

  def save_state(mask, records):
    del mask  # replayed from the records' `pruned` lists
    board.write_round(records[-1])
    run_files.write_json(os.path.join(run_dir, STATE_FILE), {
        "config": config.to_json(), "rounds": records,
        "seconds": elapsed_before + time.time() - start})

  mask, records = search.run_search(
      space, indicators, settings, finished_rounds=finished_rounds, on_round=save_state,
      progress=progress, scorer=scorer)
  genotype = space.genotype_of(mask)
  result = {
      "genotype": genotype.to_json(),
      "seconds": elapsed_before + time.time() - start,
      "rounds": records,
      "seed": settings.seed,
      "versions": versions(),
      "config": config.to_json(),
      "warnings": sorted({w for record in records for w in record["warnings"]}),
  }
  if accuracies is not None:
    result["accuracies"] = accuracies.get(genotype.to_string())
    if result["accuracies"] is None:
      log.warning("the NB201 table has no row for %s", genotype.to_string())
  result["pictures"] = pictures.search_pictures(run_dir, space, genotype, records)
  run_files.write_json(os.path.join(run_dir, RESULT_FILE), result)
  board.write_result(result)
  return result


@dataclasses.dataclass(frozen=True)
class SearchResult:
  """A finished search as the steps after it (training, export) read it back.

  The genotype is the space's value (`NB201Genotype`, `DartsGenotype`), parsed once here from
  result.json, so later steps compare and build genotypes instead of re-parsing strings.

  Attributes:
    run_dir: the search's run directory.
    space: the search space's name.
    genotype: the genotype found, a value of `space`.
    dataset: the dataset searched on (None in a result that does not record it).
  """

  run_dir: str
  space: str
  genotype: object
  dataset: str | None


def read_result(run_dir):
  """The finished search of `run_dir`, read through its `run.json` kind and `result.json`.

  Raises:
    ValueError: `run_dir` holds no search run, an unfinished one, or a damaged result (the
      message names the file).
  """
  kind = run_files.run_kind(run_dir)
  path = os.path.join(run_dir, RESULT_FILE)
  if kind is None:
    raise ValueError(f"{run_dir!r} holds no finished search (no {run_files.RUN_FILE}: no search "
                     f"ran there)")
  if kind != run_files.SEARCH:
    raise ValueError(f"{run_dir!r} holds a {kind} run, not a search run")
  if not os.path.isfile(path):
    raise ValueError(f"{run_dir!r} holds no finished search ({path} is missing: the search is "
                     f"unfinished; rerun it to finish it)")
  result = run_files.read_json(path)
  config = result.get("config") if isinstance(result.get("config"), dict) else {}
  try:
    space = spaces.get_space(config.get("space"))
    genotype = space.genotype_from_json(result.get("genotype"))
  except (ValueError, TypeError) as error:
    raise ValueError(f"{path} holds no valid search result ({error})") from None
  return SearchResult(run_dir=run_dir, space=space.name, genotype=genotype,
                      dataset=config.get("dataset"))
