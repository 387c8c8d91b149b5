"""Searches' candidates and evaluations' cells scored by a pool of long-lived Ray workers.

Each worker is a Ray actor that loads the images of one `DataSource` once, builds and traces the
indicator networks of what it scores once (a search's supernets; an evaluation's supernets of
its cells), and then scores many Ray tasks:

- a search round: one task per candidate, `tenas_tf.search.score_candidates` with
  `only=[candidate]`;
- fixed cells: one task per draw and chunk of cells (two chunks per worker), the evaluation's
  `cell_scorer` on that draw and those cells, so a worker initialises the weights once per task
  as the in-process evaluation does once per draw.

A candidate's weights and inputs are keyed by (seed, round, candidate, repeat), a cell's by
(seed, draw), and every worker takes the TF global seed of the process that asked (tf.data's
shuffles combine it with their own), so a value does not depend on the worker that computes it,
nor on the number of workers: the result is the in-process one, bit for bit.

Ray is the engine, not a scheduler of ours: `ray.util.ActorPool` hands the tasks to idle workers;
a worker that dies (killed, out of memory) is restarted by Ray (`max_restarts`) and its pending
tasks are retried (`max_task_retries`), so the loss is only its unfinished tasks. Each reply
carries its worker's process id, so a restart is noticed and logged.

Install with `pip install tenas_tf[ray]`.
"""

import logging
import os
import socket

import numpy as np
import tensorflow as tf

from tenas_tf import search
from tenas_tf.experiments import evaluation
from tenas_tf.experiments import search_run

log = logging.getLogger("tenas_tf.search")

CHUNKS_PER_WORKER = 2  # per draw: a slow or restarted worker holds up at most half its share


def _ray():
  try:
    import ray  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ValueError("scoring on Ray workers needs Ray: pip install 'tenas_tf[ray]'") from None
  return ray


def _global_seed():
  """The TF global seed ops with an op seed see here (TF's default one when none was set)."""
  return tf.compat.v1.random.get_seed(1)[0]


class _Worker:
  """One Ray actor: a data source's images, and the indicator networks of what it scores."""

  def __init__(self, data_source, deterministic_ops):
    if deterministic_ops:
      tf.config.experimental.enable_op_determinism()
    self._images = data_source.images()
    self._built_for = None  # what the networks in `self._built` score: one search or evaluation
    self._built = None

  def _networks(self, key, build):
    # One entry is enough: the tasks of one search (one seed's) or one evaluation come together.
    if self._built_for != key:
      self._built, self._built_for = build(), key
    return self._built

  def _use_global_seed(self, seed):
    # Only when it changes: setting it clears TF's kernel caches, and the traced indicators'
    # next calls are slow again.
    if _global_seed() != seed:
      tf.random.set_seed(seed)

  def process(self):
    """(host, process id) of this worker: a new one after Ray restarted it."""
    return socket.gethostname(), os.getpid()

  def score_candidate(self, config, global_seed, round_index, candidate, masks, origin):
    indicators = self._networks(config, lambda: search_run.search_indicators(config, self._images))
    self._use_global_seed(global_seed)
    values, warnings = search.score_candidates(
        indicators(round_index, len(masks)), len(masks), config.settings.repeats, masks=masks,
        origin=origin, only=[candidate])
    rows = {name: value[candidate] for name, value in values.items()}
    return (candidate, rows, warnings), self.process()

  def score_cells(self, config, global_seed, masks, draw, cells):
    key = (config, np.asarray(masks).tobytes())
    score = self._networks(key, lambda: evaluation.cell_scorer(config, masks, self._images))
    self._use_global_seed(global_seed)
    ntk, regions = score([draw], only=cells)
    return (draw, cells, ntk[cells, 0], regions[cells, 0]), self.process()


def _check_address(address):
  """Fails fast, naming the address, when nothing listens there (Ray itself retries for long)."""
  if address in ("auto", "local") or address.startswith("ray://"):
    return
  host, _, port = address.rpartition(":")
  try:
    with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
      pass
  except (OSError, ValueError) as error:
    raise ValueError(f"ray_address {address!r}: no Ray cluster answers there ({error}); start "
                     f"one with `ray start --head` or leave the address out") from None


class RayWorkers:
  """A pool of Ray workers scoring searches' candidates and evaluations' fixed cells.

  Why: one TE-NAS score takes seconds to minutes, and a round's candidates (or an evaluation's
  cells) are independent. The workers give exactly the in-process values, so `--workers` changes
  the time a run takes, never its result.

  Args:
    data_source: the `tenas_tf.data.DataSource` of the images (each worker loads them).
    workers: number of workers (>= 1).
    address: a Ray cluster to join ("host:port", "auto", "ray://..."); None starts a local
      Ray instance of `workers` CPUs (and the machine's GPUs, one per worker), unless this
      process already runs one.
    deterministic_ops: turn on TensorFlow op determinism in the workers.

  Raises:
    ValueError: Ray is not installed, or nothing answers at `address`.

  Example:
    >>> with RayWorkers(source, workers=4) as workers:
    ...   search_run.run(config, images, run_dir, scorer=workers.search_scorer(config))
  """

  def __init__(self, data_source, workers, address=None, deterministic_ops=True):
    ray = _ray()
    if address is not None:
      _check_address(address)
    self._started = not ray.is_initialized()
    if self._started:
      if address is None:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
      else:
        ray.init(address=address, log_to_driver=False)
    gpus = ray.cluster_resources().get("GPU", 0)
    actor = ray.remote(num_cpus=1, num_gpus=1 if gpus >= workers else 0, max_restarts=-1,
                       max_task_retries=-1)(_Worker)
    self._actors = [actor.remote(data_source, deterministic_ops) for _ in range(workers)]
    # Waits for the workers to be up (a broken data source fails here, not mid-round).
    self._processes = set(ray.get([worker.process.remote() for worker in self._actors]))

  @property
  def actors(self):
    """The workers' actor handles (a test kills one with `ray.kill(..., no_restart=False)`)."""
    return list(self._actors)

  def _map(self, method, tasks, what):
    """Yields the results of `method` on each task's arguments, as the workers finish them."""
    pool = _ray().util.ActorPool(self._actors)
    for result, process in pool.map_unordered(
        lambda actor, arguments: getattr(actor, method).remote(*arguments), tasks):
      if process not in self._processes:
        self._processes.add(process)
        log.warning("%s: a Ray worker was restarted (now process %d on %s); its unfinished "
                    "tasks were done again", what, process[1], process[0])
      yield result

  def search_scorer(self, config):
    """The `prune_round` scorer of the search of `config` (a `SearchConfig`) on these workers."""

    def score(round_index, masks, origin, progress=None):
      shared, seed = _ray().put(masks), _global_seed()  # masks sent once, not per candidate
      tasks = [(config, seed, round_index, candidate, shared, origin)
               for candidate in range(len(masks))]
      values = {}
      warnings = set()
      results = self._map("score_candidate", tasks, f"round {round_index}")
      for done, (candidate, rows, found) in enumerate(results, start=1):
        for name, row in rows.items():
          values.setdefault(name, np.zeros((len(masks), len(row))))[candidate] = row
        warnings.update(found)
        if progress:
          progress(done, len(masks))
      return values, sorted(warnings)

    return score

  def score_cells(self, config, masks, progress=None):
    """kappa_NTK and #LR [cells, draws] of `masks` under `config` (an `IndicatorConfig`).

    The values of `evaluation.score_cells_of(config, masks, images, progress)`, whose `scorer`
    this is; `progress` is called with (cells x draws done, total) after each task.
    """
    masks = [np.asarray(mask, dtype=bool) for mask in masks]
    shared, seed = _ray().put(masks), _global_seed()
    chunks = np.array_split(np.arange(len(masks)),
                            min(len(masks), CHUNKS_PER_WORKER * len(self._actors)))
    tasks = [(config, seed, shared, draw, chunk.tolist())
             for draw in range(config.draws) for chunk in chunks]
    ntk = np.zeros((len(masks), config.draws))
    regions = np.zeros((len(masks), config.draws))
    done = 0
    for draw, cells, cells_ntk, cells_regions in self._map("score_cells", tasks, "cells"):
      ntk[cells, draw] = cells_ntk
      regions[cells, draw] = cells_regions
      done += len(cells)
      if progress:
        progress(done, ntk.size)
    return ntk, regions

  def close(self):
    """Ends the workers, and the Ray instance if this pool started it (a cluster keeps running)."""
    ray = _ray()
    for actor in self._actors:
      ray.kill(actor)
    if self._started:
      ray.shutdown()

  def __enter__(self):
    return self

  def __exit__(self, *exc_info):
    self.close()
