"""Searches and evaluations as the binaries start them: from a data source, with a flag file.

The run functions (`search_run.run`, `evaluation.evaluate_correlation`, `seed_study.run_seeds`,
`score_table.score_cells`) take images in memory and tables as values, so tests feed them
directly. A binary has a `data.DataSource`, file paths and a process-wide setting or two; a job
value holds them, and its function does what every binary did the same way: refuse an unusable
run directory and bad tables before decoding any image, load the images, turn on op determinism,
start the Ray workers if asked, then call the run, which writes the flag file only once the run
directory is accepted.
"""

import contextlib
import dataclasses

import tensorflow as tf

from tenas_tf import checks
from tenas_tf import data as data_lib
from tenas_tf import spaces
from tenas_tf.experiments import evaluation
from tenas_tf.experiments import nb201_table
from tenas_tf.experiments import ray_scoring
from tenas_tf.experiments import run_files
from tenas_tf.experiments import score_table
from tenas_tf.experiments import search_run
from tenas_tf.experiments import seed_study


@dataclasses.dataclass(frozen=True)
class Inputs:
  """Where a job's images come from and how the process computes on them.

  Attributes:
    source: the `data.DataSource` of the indicator images (its `identity` is in the config).
    run_dir: the run directory.
    deterministic_ops: turn on TensorFlow op determinism (same seed, same result).
    flag_file: text of the flags that rerun the job (None: no flag file), written into the run
      directory once the run is accepted.
    workers: with `workers` >= 1 the job's candidates or cells are scored by that many Ray
      workers of a local Ray instance, or with `ray_address` by the workers of that Ray cluster
      (`RayWorkers`); 0 and no address score them in this process. The result is the same
      either way.
    ray_address: a Ray cluster to join ("host:port", "auto", "ray://..."), or None.
  """

  source: data_lib.DataSource
  run_dir: str
  deterministic_ops: bool = True
  flag_file: str | None = None
  workers: int = 0
  ray_address: str | None = None

  def __post_init__(self):
    checks.integer("workers", self.workers, minimum=0)

  def images(self):
    """Checks the run directory, then decodes the images (the slow part comes last)."""
    run_files.check_writable(self.run_dir)
    images = self.source.images()
    if self.deterministic_ops:
      tf.config.experimental.enable_op_determinism()
    return images

  @contextlib.contextmanager
  def ray_workers(self):
    """The job's `RayWorkers`, closed on leaving; None without `workers` and `ray_address`."""
    if not (self.workers or self.ray_address):
      yield None
      return
    workers = ray_scoring.RayWorkers(self.source, max(self.workers, 1), address=self.ray_address,
                                     deterministic_ops=self.deterministic_ops)
    try:
      yield workers
    finally:
      workers.close()


@dataclasses.dataclass(frozen=True)
class SearchJob:
  """A search (`search_run.run`) on `inputs`, reporting NB201 accuracies from `nb201_table`."""

  config: search_run.SearchConfig
  inputs: Inputs
  nb201_table: str | None = None


def _table(path, space):
  if path is None:
    return None
  if space != "nb201":
    raise ValueError(f"nb201_table applies to the nb201 space only; got space {space!r}")
  return nb201_table.load_accuracies(path)


def run_search_job(job, progress=None):
  """Runs, resumes or returns the search of `job`; returns `search_run.run`'s result dict."""
  accuracies = _table(job.nb201_table, job.config.space)
  images = job.inputs.images()
  with job.inputs.ray_workers() as workers:
    return search_run.run(job.config, images, job.inputs.run_dir, accuracies=accuracies,
                          progress=progress, flag_file=job.inputs.flag_file,
                          scorer=None if workers is None else workers.search_scorer(job.config))


@dataclasses.dataclass(frozen=True)
class CorrelationJob:
  """Indicators of NB201 cells against their accuracies in `nb201_table`.

  The cells are the `arch_str` column of the CSV file `archs`, or `num_archs` cells drawn from
  the table with the config's seed (exactly one of the two).
  """

  config: evaluation.CorrelationConfig
  inputs: Inputs
  nb201_table: str
  archs: str | None = None
  num_archs: int | None = None

  def __post_init__(self):
    if (self.archs is None) == (self.num_archs is None):
      raise ValueError(f"a correlation needs exactly one of archs (a CSV file) and num_archs; "
                       f"got archs={self.archs!r} and num_archs={self.num_archs!r}")


def run_correlation_job(job, progress=None):
  """Scores and correlates the cells of `job`; returns `evaluate_correlation`'s summary."""
  accuracies = nb201_table.load_accuracies(job.nb201_table)
  arch_strs = (evaluation.load_arch_strings(job.archs, accuracies) if job.archs is not None
               else evaluation.sample_arch_strings(accuracies, job.num_archs, job.config.seed))
  images = job.inputs.images()
  with job.inputs.ray_workers() as workers:
    return evaluation.evaluate_correlation(job.config, arch_strs, accuracies, images,
                                           job.inputs.run_dir, progress=progress,
                                           flag_file=job.inputs.flag_file,
                                           scorer=None if workers is None else workers.score_cells)


@dataclasses.dataclass(frozen=True)
class SeedsJob:
  """The search of `config` once per seed of `seeds`, summarised (`seed_study.run_seeds`)."""

  config: search_run.SearchConfig
  inputs: Inputs
  seeds: tuple
  nb201_table: str | None = None


def run_seeds_job(job, progress=None):
  """Runs (or resumes) every seed's search of `job`; returns `run_seeds`' study."""
  seeds = seed_study.check_seeds(list(job.seeds))
  accuracies = _table(job.nb201_table, job.config.space)
  images = job.inputs.images()
  with job.inputs.ray_workers() as workers:
    return seed_study.run_seeds(job.config, images, seeds, job.inputs.run_dir,
                                accuracies=accuracies, progress=progress,
                                flag_file=job.inputs.flag_file,
                                scorer_of=None if workers is None else workers.search_scorer)


@dataclasses.dataclass(frozen=True)
class ScoresJob:
  """The indicators of the cells of the CSV file `archs` (`score_table.score_cells`)."""

  config: evaluation.IndicatorConfig
  inputs: Inputs
  archs: str


def run_scores_job(job, progress=None):
  """Scores the cells of `job`; returns `score_cells`' rows."""
  genotypes, names = score_table.load_genotypes(job.archs, spaces.get_space(job.config.space))
  images = job.inputs.images()
  with job.inputs.ray_workers() as workers:
    return score_table.score_cells(job.config, genotypes, images, job.inputs.run_dir,
                                   names=names, progress=progress,
                                   flag_file=job.inputs.flag_file,
                                   scorer=None if workers is None else workers.score_cells)
