"""Exporting what a run directory holds, by the kind of run its `run.json` names.

- a training run: its trained `model.keras`, with the dataset and image size it trained on;
- a search run: the genotype of its result.json, built with untrained weights;
- no run (or an earlier export of a given genotype): the genotype the caller gives, untrained;
  the folder then becomes an export run that records the export.
The export writes `<export_base>/<model_name>.keras`, the SavedModel
`<export_base>/<model_name>/<version>/` and `<export_base>/models.config`, then `export.json` (and
the flag file) into the run directory.
"""

import dataclasses
import logging
import os

from tenas_tf import data as data_lib
from tenas_tf import export as export_lib
from tenas_tf import train as train_lib
from tenas_tf.experiments import run_files
from tenas_tf.experiments import search_run
from tenas_tf.experiments import training_run

log = logging.getLogger("tenas_tf.export")

RECORD_FILE = "export.json"
FLAG_FILE = "export.flags"


@dataclasses.dataclass(frozen=True)
class ExportJob:
  """What to export and where.

  Attributes:
    run_dir: a training or search run, or a folder to record the export of `genotype`.
    export_base: folder receiving the `.keras` file, the SavedModel and models.config.
    model_name: the model's name in TF Serving (letters, digits, . _ -).
    genotype: None, a genotype value (`NB201Genotype`, `DartsGenotype`) or its text as a user
      gives it (an arch string, DARTS' text or JSON form), read in the space of the run or, with
      no run, in `space`. With a run, it must be the run's genotype; without one, it is the
      cell exported.
    space: the space of `genotype` where no run names one.
    dataset: classes and input statistics of an untrained network without a recorded dataset.
    seed, init: the untrained weights.
    channels, cells_per_stage, num_cells, image_size: the untrained network's size.
    version: SavedModel version (None: one more than the latest there).
    serving_base_path: where the server sees `export_base`.
    flag_file: text of the flags that rerun it, written with export.json (None: none).
  """

  run_dir: str
  export_base: str
  model_name: str = "tenas"
  genotype: object = None
  space: str = "nb201"
  dataset: str = "cifar10"
  seed: int = 0
  init: str = "pytorch_default"
  channels: int = 16
  cells_per_stage: int = 5
  num_cells: int = 20
  image_size: int | None = None
  version: int | None = None
  serving_base_path: str = "/models"
  flag_file: str | None = None

  def __post_init__(self):
    if not self.export_base:
      raise ValueError(f"export_base must name the export folder; got {self.export_base!r}")
    export_lib.check_model_name(self.model_name)


@dataclasses.dataclass(frozen=True)
class _Source:
  model: object
  dataset: str
  image_size: int
  description: str
  trained: bool


def _untrained(job, space, genotype, dataset):
  info = data_lib.dataset_info(dataset)
  image_size = job.image_size or info.image_size
  options = train_lib.network_options(space, dataset, dict(
      channels=job.channels, cells_per_stage=job.cells_per_stage, num_cells=job.num_cells,
      auxiliary_weight=0.0, drop_path_rate=0.0))
  model = train_lib.build_network(genotype, info.num_classes, image_size, seed=job.seed,
                                  init=job.init, **options)
  log.warning("exporting %s with UNTRAINED weights (seed %d)", genotype, job.seed)
  return model, image_size


def _given(job, space):
  """`job.genotype` as a genotype value of `space` (None if none is given)."""
  if job.genotype is None or not isinstance(job.genotype, (str, dict)):
    return job.genotype
  return train_lib.parse_genotype(space, job.genotype)


def _check_same_genotype(job, space, genotype, where):
  given = _given(job, space)
  if given is not None and given != genotype:
    raise ValueError(f"genotype {given} differs from the genotype {where}, {genotype} "
                     f"(leave the genotype out to export the run's)")


def _from_training(job):
  config, finished = training_run.read_training(job.run_dir)
  _check_same_genotype(job, config["space"],
                       train_lib.parse_genotype(config["space"], config["genotype"]),
                       f"trained in {job.run_dir!r}")
  model_path = os.path.join(job.run_dir, train_lib.MODEL_FILE)
  if not os.path.isfile(model_path):
    raise ValueError(f"training run {job.run_dir!r} has no {train_lib.MODEL_FILE} yet: no epoch "
                     f"has finished; resume the training first")
  if not finished:
    log.warning("%s has no result.json: the training run is unfinished; exporting the model of "
                "its latest epoch", job.run_dir)
  dataset = config["dataset"]
  image_size = config.get("image_size") or data_lib.dataset_info(dataset).image_size
  return _Source(export_lib.load_keras_model(model_path), dataset, image_size,
                 f"trained model {model_path}", True)


def _from_search(job):
  result = search_run.read_result(job.run_dir)
  _check_same_genotype(job, result.space, result.genotype, f"found in {job.run_dir!r}")
  dataset = result.dataset or job.dataset
  model, image_size = _untrained(job, result.space, result.genotype, dataset)
  return _Source(model, dataset, image_size,
                 f"searched cell of {os.path.join(job.run_dir, search_run.RESULT_FILE)}, "
                 f"untrained", False)


def _from_genotype(job, kind):
  if job.genotype is None:
    raise ValueError(f"run_dir {job.run_dir!r} holds "
                     f"{'no run (no ' + run_files.RUN_FILE + ')' if kind is None else 'an export'}"
                     f"; give a genotype to export an untrained cell, or a search or training "
                     f"run directory")
  model, image_size = _untrained(job, job.space, _given(job, job.space), job.dataset)
  return _Source(model, job.dataset, image_size, "given genotype, untrained", False)


_BY_KIND = {run_files.TRAINING: _from_training, run_files.SEARCH: _from_search}


def export_run(job):
  """Exports what `job.run_dir` holds (by its run.json kind) or `job.genotype`.

  Returns:
    The record written to `run_dir/export.json`: source, trained, genotype, dataset, model_name,
    version and the absolute paths of the `.keras` file, the SavedModel and models.config.

  Raises:
    ValueError: a run of a kind with no network (an evaluation), a genotype other than the
      run's, no run and no genotype, or a bad export name (the message names it).
  """
  run_files.check_writable(job.export_base, name="export_base")
  run_files.check_writable(job.run_dir)
  kind = run_files.run_kind(job.run_dir)
  if kind in _BY_KIND:
    source = _BY_KIND[kind](job)
  elif kind in (None, run_files.EXPORT):
    source = _from_genotype(job, kind)
  else:
    raise ValueError(f"run_dir {job.run_dir!r} holds a {kind} run, which has no network to "
                     f"export; give a search or training run, or a new folder and a genotype")
  run_files.check_writable(job.run_dir)
  info = data_lib.dataset_info(source.dataset)
  try:
    paths = export_lib.export_model(
        source.model, job.export_base, job.model_name, image_size=source.image_size,
        mean=info.mean, std=info.std, version=job.version,
        serving_base_path=job.serving_base_path)
  except OSError as error:  # e.g. a read-only file system, a full disk
    raise ValueError(f"export_base {job.export_base!r} cannot be written: {error.strerror} "
                     f"({error.filename})") from None
  record = {"source": source.description, "trained": source.trained,
            "genotype": source.model.get_config()["genotype"], "dataset": info.name,
            "model_name": job.model_name, "version": paths.version,
            "keras_path": os.path.abspath(paths.keras_path),
            "saved_model_dir": os.path.abspath(paths.saved_model_dir),
            "models_config": os.path.abspath(paths.models_config)}
  if kind is None:
    run_files.start_run(job.run_dir, run_files.EXPORT)
  run_files.write_json(os.path.join(job.run_dir, RECORD_FILE), record)
  if job.flag_file is not None:
    run_files.write_atomic(os.path.join(job.run_dir, FLAG_FILE), job.flag_file)
  return record
