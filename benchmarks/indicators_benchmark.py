r"""Wall time of the two TE-NAS indicators on a space's search networks, at the paper's sizes.

  python benchmarks/indicators_benchmark.py --repeats=5
  python benchmarks/indicators_benchmark.py --space=darts --ntk_batch=14

Measures, on whatever machine runs it:
  (a) one NTK condition number: a batch of `--ntk_batch` images (72 for NB201, 14 for DARTS),
      every op alive (the search's first round), on the space's NTK net, default method
      ("jacobian");
  (b) one linear-region count: 3 batches of 1000 samples [1000, 3, 3, 1] on the space's thin net,
      every op alive.
For each it prints the first call (tracing and graph building included), then the median and the
minimum wall time and the median process CPU time of `--repeats` further calls. On a shared
machine the CPU time is the steadier figure: wall time ~ CPU time / cores in use.

Images: the real CIFAR-10 training images of `--data_npz` when that file exists (normalised with
the CIFAR-10 mean and std, no flip or crop), otherwise random normal images. The linear-region
samples are random 3x3 crops of those images, one random channel each (TE-NAS section 3.2).
A benchmark, not a test: the figures go in the README.
"""

import os
import pathlib
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from tenas_tf import indicators
from tenas_tf.spaces import init as init_lib
from tenas_tf.spaces import registry

_SHARED = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"
# CIFAR-10 per-channel mean and std of the pixel values (as the authors' code).
_CIFAR10_MEAN = np.array([125.3, 123.0, 113.9], np.float32)
_CIFAR10_STD = np.array([63.0, 62.1, 66.7], np.float32)

_SPACE = flags.DEFINE_enum("space", "nb201", list(registry.SPACES), "Search space.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed calls after the first one (>= 1).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the networks' weights, batch and crops.")
_NTK_BATCH = flags.DEFINE_integer("ntk_batch", 72, "Images per NTK (72 for NB201, 14 for DARTS).")
_LR_BATCHES = flags.DEFINE_integer("lr_batches", 3, "Linear-region batches per count.")
_LR_BATCH_SIZE = flags.DEFINE_integer("lr_batch_size", 1000, "Samples per linear-region batch.")
_DATA_NPZ = flags.DEFINE_string(
    "data_npz", str(_SHARED / "cifar" / "cifar10_train_0000-0999.npz"),
    "CIFAR-10 images ('x': [N, 32, 32, 3] uint8); random images when the file is missing.")


def _images(rng):
  """[N, 32, 32, 3] float32 normalised images and a description of where they came from."""
  path = pathlib.Path(_DATA_NPZ.value)
  if path.exists():
    with np.load(path, allow_pickle=False) as data:
      pixels = data["x"].astype(np.float32)
    return (pixels - _CIFAR10_MEAN) / _CIFAR10_STD, f"CIFAR-10 images of {path.name}"
  count = max(_NTK_BATCH.value, 100)
  return rng.standard_normal((count, 32, 32, 3)).astype(np.float32), "random normal images"


def _crops(images, count, rng):
  """`count` random 3x3 crops [count, 3, 3, 1], each of one random channel."""
  which = rng.integers(0, len(images), count)
  top = rng.integers(0, images.shape[1] - 2, count)
  left = rng.integers(0, images.shape[2] - 2, count)
  channel = rng.integers(0, images.shape[3], count)
  rows = top[:, None] + np.arange(3)
  cols = left[:, None] + np.arange(3)
  crops = images[which[:, None, None], rows[:, :, None], cols[:, None, :], channel[:, None, None]]
  return crops[..., None].astype(np.float32)


def _time(function, repeats):
  """(first-call seconds, [(wall, cpu) seconds of each further call], last result)."""
  start = time.perf_counter()
  result = function()
  first = time.perf_counter() - start
  timings = []
  for _ in range(repeats):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    timings.append((time.perf_counter() - wall, time.process_time() - cpu))
  return first, timings, result


def main(argv):
  del argv
  if _REPEATS.value < 1:
    raise ValueError(f"repeats must be >= 1; got {_REPEATS.value}")
  rng = np.random.default_rng(_SEED.value)
  images, source = _images(rng)
  batch = tf.constant(images[rng.choice(len(images), _NTK_BATCH.value, replace=False)])
  samples = [tf.constant(_crops(images, _LR_BATCH_SIZE.value, rng))
             for _ in range(_LR_BATCHES.value)]

  space = registry.get_space(_SPACE.value)
  ntk_net = space.ntk_network(10, (32, 32, 3), "pytorch_default")
  lr_net = space.linear_region_network(10, "pytorch_default")
  for net in (ntk_net, lr_net):
    init_lib.initialize(net, _SEED.value, "pytorch_default")
    net.set_alive(space.initial_mask())

  rows = [
      (f"NTK condition number, batch {_NTK_BATCH.value}",
       lambda: indicators.ntk_condition_number(ntk_net, batch)),
      (f"linear regions, {_LR_BATCHES.value} x {_LR_BATCH_SIZE.value} samples",
       lambda: indicators.num_linear_regions(lr_net, samples)),
  ]
  print(f"{space.name} space; {source}; {os.cpu_count()} CPUs; "
        f"{_REPEATS.value} timed calls after the first\n")
  print("| indicator | value | first call s | median s | min s | median CPU s |")
  print("|---|---|---|---|---|---|")
  for name, function in rows:
    first, timings, value = _time(function, _REPEATS.value)
    wall = np.array([w for w, _ in timings])
    cpu = np.array([c for _, c in timings])
    print(f"| {name} | {value:.6g} | {first:.2f} | {np.median(wall):.3f} | {wall.min():.3f} | "
          f"{np.median(cpu):.3f} |", flush=True)


if __name__ == "__main__":
  app.run(main)
