r"""One measurement of the benchmark suite, in a fresh process; `run.py` starts it.

  python benchmarks/measure.py --job=indicators --space=nb201 --out=/tmp/m.json
  python benchmarks/measure.py --job=search --space=darts --mode=common --out=/tmp/m.json

`--job=indicators`: builds the space's two indicator networks (every op alive, seed 0) and one
NTK batch and one linear-region count's samples of the real CIFAR-10 images, then times
  ntk_first_s, lr_first_s  the first kappa and #LR calls of the process (tracing included);
  peak_rss_mb              the process's peak resident memory right after them: that of a
                           process that scores once (ru_maxrss of RUSAGE_SELF);
  ntk_s, ntk_single_path_s, lr_s
                           warm calls, the minimum of `--repeats` each: kappa with every op
                           alive and with one op per edge (`single_path_op`), #LR every op alive;
  load_average             os.getloadavg() after the warm calls (a busy machine slows them).
`--job=search`: one whole search through `tenas_tf.experiments.run_search` in a temporary run
directory, in the reference batch mode or with common batches; search_s is its wall time,
search_peak_rss_mb the peak resident memory of its process.

Each job writes its figures as JSON to `--out`. Nothing here picks a device: TensorFlow places
the work as it does for a search.
"""

import json
import os
import resource
import tempfile
import time

from absl import app
from absl import flags
import tensorflow as tf

from tenas_tf import data
from tenas_tf import experiments
from tenas_tf import indicators
from tenas_tf import search
from tenas_tf import spaces
import suite_config

_JOB = flags.DEFINE_enum("job", None, ["indicators", "search"], "What to measure.")
_SPACE = flags.DEFINE_enum("space", None, list(suite_config.PAPER), "Search space.")
_MODE = flags.DEFINE_enum("mode", "reference", list(suite_config.SEARCH_MODES),
                          "--job=search: a fresh batch per candidate, or common batches.")
_SMOKE = flags.DEFINE_bool("smoke", False, "The smoke settings (suite_config.SMOKE).")
_REPEATS = flags.DEFINE_integer("repeats", 5, "--job=indicators: warm calls per figure.",
                                lower_bound=1)
_DATA_NPZ = flags.DEFINE_list("data_npz", list(suite_config.CIFAR10_NPZ),
                              "CIFAR-10 .npz files (uint8 images 'x').")
_DETERMINISTIC = flags.DEFINE_bool("deterministic_ops", True,
                                   "TensorFlow op determinism, as the search binary's default.")
_OUT = flags.DEFINE_string("out", None, "JSON file to write the figures to.")
flags.mark_flags_as_required(["job", "space", "out"])


def _seconds(function):
  start = time.perf_counter()
  function()
  return time.perf_counter() - start


def _fastest(function, repeats):
  return min(_seconds(function) for _ in range(repeats))


def measure_indicators(benchmark, source, repeats):
  """The figures of `--job=indicators` (see the module docstring)."""
  space = suite_config.search_space(benchmark)
  info = data.dataset_info(source.dataset)
  images = source.images()
  batch = next(iter(data.ntk_batches(images, info, benchmark.batch_size, seed=0)))
  lr_stream = iter(data.linear_region_batches(images, info, benchmark.lr_batch_size, seed=0))
  samples = [next(lr_stream) for _ in range(benchmark.lr_batches)]
  ntk_net = space.ntk_network(info.num_classes, (info.image_size, info.image_size, 3),
                              "pytorch_default")
  lr_net = space.linear_region_network(info.num_classes, "pytorch_default")
  for net in (ntk_net, lr_net):
    spaces.initialize(net, 0, "pytorch_default")
    net.set_alive(space.initial_mask())

  def kappa():
    return indicators.ntk_condition_number(ntk_net, batch)

  def regions():
    return indicators.num_linear_regions(lr_net, samples)

  figures = {"ntk_first_s": _seconds(kappa), "lr_first_s": _seconds(regions)}
  # ru_maxrss is in KiB on Linux.
  figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  figures["ntk_s"] = _fastest(kappa, repeats)
  figures["lr_s"] = _fastest(regions, repeats)
  ntk_net.set_alive(suite_config.single_path_mask(space, benchmark.single_path_op))
  figures["ntk_single_path_s"] = _fastest(kappa, repeats)
  figures["load_average"] = list(os.getloadavg())
  return figures


def measure_search(benchmark, source, mode):
  """The wall time of one whole search in `mode` ("reference" or "common")."""
  if benchmark.kept_ops is not None:
    # The library looks the space up by name; this throwaway process registers the reduced one
    # under the same name.
    spaces.SPACES[benchmark.space] = suite_config.search_space(benchmark)
  config = experiments.SearchConfig(
      space=benchmark.space, dataset=source.dataset, data_source=source.identity,
      batch_size=benchmark.batch_size, lr_batch_size=benchmark.lr_batch_size,
      settings=search.PruneSettings(
          prune_number=benchmark.prune_number, repeats=benchmark.repeats,
          lr_batches_per_count=benchmark.lr_batches, common_batches=(mode == "common"), seed=0))
  images = source.images()
  with tempfile.TemporaryDirectory(prefix="tenas_benchmark_") as run_dir:
    start = time.perf_counter()
    result = experiments.run_search(config, images, run_dir)
    seconds = time.perf_counter() - start
  # ru_maxrss is in KiB on Linux: the peak of the whole search's process.
  return {"search_s": seconds, "genotype": result["genotype"], "rounds": len(result["rounds"]),
          "search_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv):
  del argv
  if _DETERMINISTIC.value:
    tf.config.experimental.enable_op_determinism()
  benchmark = suite_config.benchmark_of(_SPACE.value, _SMOKE.value)
  source = data.DataSource(suite_config.DATASET, data_npz=_DATA_NPZ.value)
  if _JOB.value == "indicators":
    figures = measure_indicators(benchmark, source, _REPEATS.value)
  else:
    figures = measure_search(benchmark, source, _MODE.value)
  with open(_OUT.value, "w") as stream:
    json.dump(figures, stream)


if __name__ == "__main__":
  app.run(main)
