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

from absl import flags

from tenas_tf import experiments
from tenas_tf.launch import _cli
from tenas_tf.launch import _data
from tenas_tf.launch import _search_flags

PROGRESS_SECONDS = flags.DEFINE_float(
    "progress_seconds", 10.0,
    "When the output is not a terminal (a log file), seconds between progress lines; on a "
    "terminal a progress bar is drawn instead.", lower_bound=0.0)
FLAGS = _search_flags.FLAGS + (PROGRESS_SECONDS,)


def _interrupted():
  return experiments.search_interrupted_line(_search_flags.RUN_DIR.value)


def _search():
  job = experiments.SearchJob(config=_search_flags.search_config(_data.SEED.value),
                              inputs=_search_flags.inputs(FLAGS),
                              nb201_table=_search_flags.NB201_TABLE.value)
  progress = experiments.SearchProgress(interval_s=PROGRESS_SECONDS.value)
  progress.begin()
  try:
    result = experiments.run_search_job(job, progress=progress)
  finally:
    progress.close()
  print(experiments.search_summary(result, job.inputs.run_dir))


def main(argv):
  _cli.run_command(_search, argv, interrupted=_interrupted)


def run_main():
  """Console-script entry point (`tenas-search`)."""
  _cli.run(main, FLAGS)


if __name__ == "__main__":
  run_main()
