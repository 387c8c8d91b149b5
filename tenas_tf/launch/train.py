r"""Retrains a found cell (NB201 protocol by default; DARTS' with its flag files).

  python -m tenas_tf.launch.train --flagfile=launch/train_nb201_cifar10.flags \
    --search_run_dir=runs/c10 --data_dir=~/tensorflow_datasets --run_dir=runs/c10_train
  python -m tenas_tf.launch.train --flagfile=launch/train_darts_cifar10.flags \
    --search_run_dir=runs/darts_c10 --data_dir=~/tensorflow_datasets --run_dir=runs/darts_train

Writes `train_config.json` and `train.flags` (the flags that rerun it) at the start, `result.json`
at the end, and the training files of `tenas_tf.train.train` (backup/, model.keras, history.csv,
tensorboard/) into --run_dir. Rerunning the same command after a kill resumes after the last
finished epoch; a finished run is not redone; another configuration in the same --run_dir is
refused (`tenas_tf.experiments.run_training`).
"""

import json
import os

from absl import flags

from tenas_tf import data
from tenas_tf import experiments
from tenas_tf import train as train_lib
from tenas_tf.launch import _cli
from tenas_tf.launch import flags as tenas_flags

RUN_DIR = tenas_flags.run_dir()
SPACE = tenas_flags.space()
DATASET = tenas_flags.dataset()
DATA_DIR, DATA_NPZ, SYNTHETIC_COUNT = tenas_flags.labelled_data()
SEED = tenas_flags.seed()
INIT = tenas_flags.init()
DETERMINISTIC_OPS = tenas_flags.deterministic_ops()
GENOTYPE = tenas_flags.genotype()
CHANNELS, CELLS_PER_STAGE, NUM_CELLS, IMAGE_SIZE = tenas_flags.network()
SEARCH_RUN_DIR = flags.DEFINE_string(
    "search_run_dir", None, "A search's run directory; its result's genotype is trained "
    "(or give --genotype).")
EVAL_NPZ = flags.DEFINE_list(
    "eval_npz", None,
    "Comma-separated .npz files of held-out images `x` and labels `y`, evaluated after every "
    "epoch (default with TFDS: the test split; with --data_npz: none).")
TRAIN_IMAGE_DIR = flags.DEFINE_string(
    "train_image_dir", None,
    "--dataset=imagenet-1k: folder of class sub-folders of training images (ILSVRC2012 "
    "train/), read with random-resized crops.")
EVAL_IMAGE_DIR = flags.DEFINE_string(
    "eval_image_dir", None,
    "--dataset=imagenet-1k: folder of the same class sub-folders of held-out images "
    "(ILSVRC2012 val/ sorted into classes), evaluated after every epoch.")
BATCH_SIZE = flags.DEFINE_integer(
    "batch_size", 256, "Global training batch, split over the replicas (NB201: 256).",
    lower_bound=1)
EPOCHS = flags.DEFINE_integer("epochs", 200, "Epochs (NB201: 200).", lower_bound=1)
STEPS_PER_EPOCH = flags.DEFINE_integer(
    "steps_per_epoch", None, "Batches per epoch (default: one pass over the images).",
    lower_bound=1)
LEARNING_RATE = flags.DEFINE_float(
    "learning_rate", 0.1, "Peak learning rate (> 0), annealed to 0 by a cosine (NB201: 0.1).",
    lower_bound=0.0)
NESTEROV = flags.DEFINE_bool("nesterov", True,
                             "Nesterov momentum (NB201: yes; DARTS: --nonesterov).")
WEIGHT_DECAY = flags.DEFINE_float(
    "weight_decay", 5e-4,
    "Coupled L2 weight decay on every trainable variable, PyTorch's SGD weight_decay "
    "(NB201: 5e-4).", lower_bound=0.0)
LABEL_SMOOTHING = flags.DEFINE_float("label_smoothing", 0.0, "Label smoothing, in [0, 1).",
                                     lower_bound=0.0, upper_bound=1.0)
CUTOUT = flags.DEFINE_integer(
    "cutout", 16, "Cutout square side in pixels, 0 for none (NB201's protocol: 0).",
    lower_bound=0)
DROP_PATH_RATE = flags.DEFINE_float(
    "drop_path_rate", 0.0, "Per-sample drop-path probability of non-identity edges, in [0, 1).",
    lower_bound=0.0, upper_bound=1.0)
AUXILIARY_WEIGHT = flags.DEFINE_float(
    "auxiliary_weight", 0.0,
    "DARTS: weight of the auxiliary head's loss (CIFAR recipe: 0.4); 0 builds no head.",
    lower_bound=0.0)
STRATEGY = flags.DEFINE_enum(
    "strategy", "default", list(train_lib.STRATEGIES),
    "tf.distribute strategy (mirrored: all GPUs, else all logical CPU devices; multi_worker: "
    "the cluster in TF_CONFIG).")
NUM_CPU_DEVICES = flags.DEFINE_integer(
    "num_cpu_devices", None,
    "Split the CPU into this many logical devices (to run --strategy=mirrored without GPUs).",
    lower_bound=1)
MIXED_PRECISION = flags.DEFINE_bool("mixed_precision", False,
                                    "float16 compute, float32 variables (GPU only).")
FLAGS = (SPACE, DATASET, DATA_DIR, DATA_NPZ, SYNTHETIC_COUNT, SEED, RUN_DIR, INIT,
         DETERMINISTIC_OPS, BATCH_SIZE, SEARCH_RUN_DIR, GENOTYPE, EVAL_NPZ, EPOCHS,
         STEPS_PER_EPOCH, LEARNING_RATE, WEIGHT_DECAY, LABEL_SMOOTHING, CUTOUT, DROP_PATH_RATE,
         CHANNELS, CELLS_PER_STAGE, NUM_CELLS, STRATEGY, NUM_CPU_DEVICES, MIXED_PRECISION,
         NESTEROV, AUXILIARY_WEIGHT, IMAGE_SIZE, TRAIN_IMAGE_DIR, EVAL_IMAGE_DIR)


def _genotype():
  """The genotype value of --genotype, or of the search in --search_run_dir."""
  text, search_dir = GENOTYPE.value, SEARCH_RUN_DIR.value
  if (text is None) == (search_dir is None):
    raise ValueError(f"give exactly one of --genotype and --search_run_dir; got "
                     f"--genotype={text!r} and --search_run_dir={search_dir!r}")
  if text is not None:
    return train_lib.parse_genotype(SPACE.value, text)
  found = experiments.read_search_result(search_dir)
  if found.space != SPACE.value:
    raise ValueError(f"--space {SPACE.value!r} differs from the space searched in "
                     f"--search_run_dir {search_dir!r}, {found.space!r}")
  return found.genotype


def _sources():
  """(training `data.DataSource`, held-out one or None) from the data flags of training.

  ImageNet-1k trains from --train_image_dir (held out: --eval_image_dir); the other datasets
  from --data_npz, random images (--dataset=synthetic) or TFDS, held out: --eval_npz, or for
  TFDS the dataset's test / validation split.
  """
  info = data.dataset_info(DATASET.value)
  train_dir, eval_dir = TRAIN_IMAGE_DIR.value, EVAL_IMAGE_DIR.value
  options = dict(data_dir=DATA_DIR.value, seed=SEED.value, synthetic_count=SYNTHETIC_COUNT.value)
  if info.resize:
    others = [f"--{holder.name}" for holder in (DATA_NPZ, EVAL_NPZ) if holder.value]
    if not train_dir or others:
      raise ValueError(f"--dataset={info.name} trains from image files: give --train_image_dir "
                       f"(and optionally --eval_image_dir), no npz files; got "
                       f"--train_image_dir={train_dir!r} and {others or 'no npz flag'}")
    held_out = data.DataSource(info.name, image_dir=eval_dir, **options) if eval_dir else None
    return data.DataSource(info.name, image_dir=train_dir, **options), held_out
  if train_dir or eval_dir:
    raise ValueError(f"--train_image_dir and --eval_image_dir apply to --dataset=imagenet-1k "
                     f"only; got --dataset={info.name}")
  source = data.DataSource(info.name, data_npz=DATA_NPZ.value or None, **options)
  if EVAL_NPZ.value:
    held_out = data.DataSource(info.name, data_npz=EVAL_NPZ.value, **options)
  elif source.kind == "tfds":
    held_out = data.DataSource(info.name, split=data.eval_split(info), **options)
  else:
    held_out = None
  return source, held_out


def _job():
  source, held_out = _sources()
  config = train_lib.TrainConfig(
      genotype=_genotype().to_string(), space=SPACE.value, dataset=DATASET.value,
      data_source=source.identity, channels=CHANNELS.value,
      cells_per_stage=CELLS_PER_STAGE.value, num_cells=NUM_CELLS.value,
      image_size=IMAGE_SIZE.value, epochs=EPOCHS.value, steps_per_epoch=STEPS_PER_EPOCH.value,
      batch_size=BATCH_SIZE.value, learning_rate=LEARNING_RATE.value, nesterov=NESTEROV.value,
      weight_decay=WEIGHT_DECAY.value, label_smoothing=LABEL_SMOOTHING.value,
      cutout=CUTOUT.value, drop_path_rate=DROP_PATH_RATE.value,
      auxiliary_weight=AUXILIARY_WEIGHT.value, init=INIT.value, seed=SEED.value,
      strategy=STRATEGY.value, mixed_precision=MIXED_PRECISION.value)
  return experiments.TrainingJob(
      config=config, source=source, held_out=held_out, run_dir=RUN_DIR.value,
      deterministic_ops=DETERMINISTIC_OPS.value, num_cpu_devices=NUM_CPU_DEVICES.value,
      flag_file=tenas_flags.flagfile_text(FLAGS))


def _print_result(result):
  print(f"genotype: {result['genotype']}")
  if result["resumed_after_epoch"]:
    print(f"resumed after epoch {result['resumed_after_epoch']}")
  print(f"epochs: {len(result['history'])} x {result['steps_per_epoch']} steps, "
        f"{result['num_params']} parameters, {result['replicas']} replica(s)")
  speeds = [row["images_per_second"] for row in result["history"] if "images_per_second" in row]
  if speeds:
    median = sorted(speeds)[len(speeds) // 2]
    print(f"training images per second (median over epochs): {median:.1f}")
  if result["eval"]:
    print("held-out: " + json.dumps(result["eval"]))
  print(f"model: {result['model_path']}")


def _train():
  job = _job()
  outcome = experiments.run_training(job)
  if outcome.already_finished:
    print(f"already finished: {os.path.join(job.run_dir, 'result.json')}")
  _print_result(outcome.result)


def main(argv):
  _cli.run_command(_train, argv)


def run_main():
  """Console-script entry point (`tenas-train`)."""
  _cli.run(main, FLAGS)


if __name__ == "__main__":
  run_main()
