r"""Wall time and outcome of full NB201 searches on the real CIFAR-10 images in ../shared.

  python benchmarks/search_benchmark.py --seeds=0,1,2,3,4 --out_dir=/tmp/search_bench

Runs the paper's settings (batch 72, 3 repeats, 3 x 1000 linear-region samples, prune_number 1)
once per seed and per batch mode (`--modes=reference,common`), and prints a markdown table of
seconds, genotype and NB201 test accuracies. A benchmark, not a test: the figures go in the README.
"""

import os
import pathlib
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from tenas_tf import data as data_lib
from tenas_tf import experiments
from tenas_tf import search
from tenas_tf.experiments import nb201_table

_SHARED = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"
_SEEDS = flags.DEFINE_list("seeds", ["0"], "Search seeds.")
_MODES = flags.DEFINE_list("modes", ["reference"],
                           "reference (fresh batch per candidate) and/or common (shared batches).")
_OUT_DIR = flags.DEFINE_string("out_dir", "/tmp/tenas_search_benchmark", "Run directories.")
_NPZ = flags.DEFINE_list(
    "data_npz", [str(_SHARED / "cifar" / f"cifar10_train_{p}.npz") for p in
                 ("0000-0999", "1000-1999")], "CIFAR-10 training images.")
_TABLE = flags.DEFINE_string("nb201_table", str(_SHARED / "nb201" / "nb201_accuracies.csv"),
                             "NB201 accuracy table.")


def main(argv):
  del argv
  tf.config.experimental.enable_op_determinism()
  images = data_lib.load_images("cifar10", data_npz=_NPZ.value)
  accuracies = nb201_table.load_accuracies(_TABLE.value)
  rows = []
  for mode in _MODES.value:
    for seed in map(int, _SEEDS.value):
      config = experiments.SearchConfig(
          space="nb201", dataset="cifar10", data_source="npz:" + ",".join(_NPZ.value),
          batch_size=72, lr_batch_size=1000,
          settings=search.PruneSettings(seed=seed, common_batches=(mode == "common")))
      run_dir = os.path.join(_OUT_DIR.value, f"{mode}_seed{seed}")
      start = time.time()
      result = experiments.run_search(config, images, run_dir, accuracies=accuracies)
      wall = time.time() - start
      acc = result.get("accuracies") or {}
      rows.append((mode, seed, result["seconds"], wall, result["genotype"], acc.get("cifar10"),
                   acc.get("cifar100"), acc.get("imagenet16")))
      print(f"{mode} seed {seed}: {result['seconds']:.1f} s {result['genotype']} {acc}",
            flush=True)
  print("\n| mode | seed | search s | genotype | C10 | C100 | IN16 |")
  print("|---|---|---|---|---|---|---|")
  for mode, seed, seconds, _, genotype, c10, c100, in16 in rows:
    print(f"| {mode} | {seed} | {seconds:.0f} | `{genotype}` | {c10:.2f} | {c100:.2f} | "
          f"{in16:.2f} |")
  for mode in _MODES.value:
    c10 = np.array([r[5] for r in rows if r[0] == mode])
    seconds = np.array([r[2] for r in rows if r[0] == mode])
    print(f"{mode}: CIFAR-10 {c10.mean():.2f} +- {c10.std():.2f} over {len(c10)} seeds; "
          f"{seconds.mean():.0f} s per search")


if __name__ == "__main__":
  app.run(main)
