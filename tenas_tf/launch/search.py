r"""Runs a TE-NAS search.

  python -m tenas_tf.launch.search --flagfile=launch/nb201_cifar10.flags --run_dir=runs/c10

ImageNet-1k (images resized to 32x32) from ILSVRC2012's folder of class sub-folders, 20,000 images
decoded once and cached for later runs (or --tfrecords=/data/imagenet/train-*, or TFDS
imagenet2012 prepared from --manual_dir holding the ILSVRC2012 tars):

  python -m tenas_tf.launch.search --flagfile=launch/darts_imagenet.flags \
    --image_dir=/data/ILSVRC2012/train --max_images=20000 --cache_dir=/data/cache \
    --run_dir=runs/darts_in

Writes `result.json` (and `state.json` after every round, so rerunning the same command resumes
a killed search) and `search.flags`, the flags that reproduce the run, into --run_dir.
"""

import json
import os
import sys

from absl import app
import tensorflow as tf

from tenas_tf import experiments
from tenas_tf import search
from tenas_tf.experiments import nb201_table
from tenas_tf.launch import _cli
from tenas_tf.launch import _data
from tenas_tf.launch import flags as tenas_flags
from tenas_tf.experiments import run_files
from tenas_tf import spaces


def _config_from_flags():
  settings = search.PruneSettings(
      prune_number=tenas_flags.PRUNE_NUMBER.value, repeats=tenas_flags.REPEATS.value,
      lr_batches_per_count=tenas_flags.LR_BATCHES.value,
      common_batches=tenas_flags.COMMON_BATCHES.value, init=tenas_flags.INIT.value,
      seed=tenas_flags.SEED.value)
  return experiments.SearchConfig(
      space=tenas_flags.SPACE.value, dataset=tenas_flags.DATASET.value,
      data_source=_data.data_source(),
      batch_size=tenas_flags.BATCH_SIZE.value, lr_batch_size=tenas_flags.LR_BATCH_SIZE.value,
      settings=settings)


def _print_progress(round_index, done, total):
  sys.stderr.write(f"\rround {round_index}: candidate {done}/{total}")
  if done == total:
    sys.stderr.write("\n")
  sys.stderr.flush()


def _search():
  config = _config_from_flags()
  run_dir = tenas_flags.RUN_DIR.value
  run_files.check_writable(run_dir)
  if tenas_flags.NB201_TABLE.value and config.space != "nb201":
    raise ValueError(f"--nb201_table applies to --space=nb201 only; got --space={config.space}")
  accuracies = (nb201_table.load_accuracies(tenas_flags.NB201_TABLE.value)
                if tenas_flags.NB201_TABLE.value else None)
  images = _data.load_images()
  if tenas_flags.DETERMINISTIC_OPS.value:
    tf.config.experimental.enable_op_determinism()
  run_files.write_atomic(os.path.join(run_dir, "search.flags"),
                         tenas_flags.flagfile_text(tenas_flags.SEARCH_FLAGS))
  result = experiments.run_search(config, images, run_dir, accuracies=accuracies, progress=_print_progress)
  # The NB201 arch string, or DARTS' text form Genotype(normal=[...], ...).
  print(f"genotype: {spaces.get_space(config.space).genotype_from_json(result['genotype'])}")
  print(f"search seconds: {result['seconds']:.1f}")
  if result.get("accuracies"):
    print("NB201 test accuracies: " + json.dumps(result["accuracies"]))
  for warning in result["warnings"]:
    print(f"warning: {warning}")


def main(argv):
  _cli.run_command(_search, argv)


def run_main():
  """Console-script entry point (`tenas-search`)."""
  app.run(main)


if __name__ == "__main__":
  run_main()
