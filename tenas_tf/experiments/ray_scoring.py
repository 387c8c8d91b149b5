"""A round's candidates scored by a pool of long-lived Ray workers, on one host or a cluster.

Each worker is a Ray actor that loads the images from the run's `DataSource`, builds and traces
the indicator networks once, and then scores many candidates: one Ray task per candidate, the
same `tenas_tf.search.score_candidates` with `only=[candidate]`. Because a candidate's weights and
inputs are keyed by (seed, round, candidate, repeat), a candidate scored on any worker gets the
value the in-process search gives it, so the result does not depend on the number of workers.

Ray is the engine, not a scheduler of ours: `ray.util.ActorPool` hands the tasks to idle workers;
a worker that dies (killed, out of memory) is restarted by Ray (`max_restarts`) and its pending
tasks are retried (`max_task_retries`), so the loss is only its unfinished candidates. Each reply
carries its worker's process id, so a restart is noticed and logged.

Install with `pip install tenas_tf[ray]`.
"""

import logging
import os
import socket

import numpy as np

from tenas_tf import data as data_lib
from tenas_tf import search
from tenas_tf import spaces

log = logging.getLogger("tenas_tf.search")


def _ray():
  try:
    import ray  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ValueError("scoring on Ray workers needs Ray: pip install 'tenas_tf[ray]'") from None
  return ray


class _Worker:
  """One Ray actor: the indicator networks of a search, traced once, scoring candidates."""

  def __init__(self, config, data_source, deterministic_ops):
    import keras  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    if deterministic_ops:
      tf.config.experimental.enable_op_determinism()
    settings = config.settings
    keras.utils.set_random_seed(settings.seed)  # as the in-process search: tf.data shuffles
    space = spaces.get_space(config.space)
    info = data_lib.dataset_info(config.dataset)
    images = data_source.images()
    ntk_net = space.ntk_network(info.num_classes, (info.image_size, info.image_size, 3),
                                settings.init)
    lr_net = space.linear_region_network(info.num_classes, settings.init)
    self._indicators = search.te_nas_indicators(
        ntk_net, lr_net,
        lambda seed: data_lib.ntk_batches(images, info, config.batch_size, seed),
        lambda seed: data_lib.linear_region_batches(images, info, config.lr_batch_size, seed),
        settings)
    self._repeats = settings.repeats

  def process(self):
    """(host, process id) of this worker: a new one after Ray restarted it."""
    return socket.gethostname(), os.getpid()

  def score(self, round_index, candidate, masks, origin):
    values, warnings = search.score_candidates(
        self._indicators(round_index, len(masks)), len(masks), self._repeats, masks=masks,
        origin=origin, only=[candidate])
    rows = {name: value[candidate].tolist() for name, value in values.items()}
    return candidate, rows, warnings, self.process()


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


class RayScorer:
  """A `prune_round` scorer that spreads a round's candidates over Ray workers.

  Args:
    config: the search's `SearchConfig`.
    data_source: the `tenas_tf.data.DataSource` of its images (each worker loads them).
    workers: number of workers (>= 1).
    address: a Ray cluster to join ("host:port", "auto", "ray://..."); None starts a local
      Ray instance of `workers` CPUs (and the machine's GPUs, one per worker).
    deterministic_ops: turn on TensorFlow op determinism in the workers.

  Raises:
    ValueError: Ray is not installed, or nothing answers at `address`.
  """

  def __init__(self, config, data_source, workers, address=None, deterministic_ops=True):
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
    self._actors = [actor.remote(config, data_source, deterministic_ops)
                    for _ in range(workers)]
    # Waits for the workers to be up (a broken data source fails here, not mid-round).
    self._processes = set(ray.get([worker.process.remote() for worker in self._actors]))

  @property
  def actors(self):
    """The workers' actor handles (a test kills one with `ray.kill(..., no_restart=False)`)."""
    return list(self._actors)

  def __call__(self, round_index, masks, origin, progress=None):
    ray = _ray()
    pool = ray.util.ActorPool(self._actors)
    values = {}
    warnings = set()
    results = pool.map_unordered(
        lambda actor, candidate: actor.score.remote(round_index, candidate, masks, origin),
        range(len(masks)))
    for done, (candidate, rows, found, process) in enumerate(results, start=1):
      for name, row in rows.items():
        values.setdefault(name, np.zeros((len(masks), len(row))))[candidate] = row
      warnings.update(found)
      self._note_process(process, round_index)
      if progress:
        progress(done, len(masks))
    return values, sorted(warnings)

  def _note_process(self, process, round_index):
    if process not in self._processes:
      self._processes.add(process)
      log.warning("round %d: a Ray worker was restarted (now process %d on %s); its unfinished "
                  "candidates were scored again", round_index, process[1], process[0])

  def close(self):
    """Shuts down the Ray instance this scorer started (a joined cluster keeps running)."""
    ray = _ray()
    for actor in self._actors:
      ray.kill(actor)
    if self._started:
      ray.shutdown()
