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
import sys

from tenas_tf import experiments
from tenas_tf import spaces
from tenas_tf.launch import _cli
from tenas_tf.launch import _data
from tenas_tf.launch import _search_flags

FLAGS = _search_flags.FLAGS


def _print_progress(round_index, done, total):
  sys.stderr.write(f"\rround {round_index}: candidate {done}/{total}")
  if done == total:
    sys.stderr.write("\n")
  sys.stderr.flush()


def _search():
  job = experiments.SearchJob(config=_search_flags.search_config(_data.SEED.value),
                              inputs=_search_flags.inputs(FLAGS),
                              nb201_table=_search_flags.NB201_TABLE.value)
  result = experiments.run_search_job(job, progress=_print_progress)
  # The NB201 arch string, or DARTS' text form Genotype(normal=[...], ...).
  print(f"genotype: {spaces.get_space(job.config.space).genotype_from_json(result['genotype'])}")
  print(f"search seconds: {result['seconds']:.1f}")
  if result.get("accuracies"):
    print("NB201 test accuracies: " + json.dumps(result["accuracies"]))
  for warning in result["warnings"]:
    print(f"warning: {warning}")


def main(argv):
  _cli.run_command(_search, argv)


def run_main():
  """Console-script entry point (`tenas-search`)."""
  _cli.run(main, FLAGS)


if __name__ == "__main__":
  run_main()
