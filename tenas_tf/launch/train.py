r"""Retrains a found cell (NB201 protocol by default; DARTS' with its flag files).

  python -m tenas_tf.launch.train --flagfile=launch/train_nb201_cifar10.flags \
    --search_run_dir=runs/c10 --data_dir=~/tensorflow_datasets --run_dir=runs/c10_train
  python -m tenas_tf.launch.train --flagfile=launch/train_darts_cifar10.flags \
    --search_run_dir=runs/darts_c10 --data_dir=~/tensorflow_datasets --run_dir=runs/darts_train

Writes `train_config.json` and `train.flags` (the flags that rerun it) at the start, `result.json`
at the end, and the training files of `tenas_tf.train.train` (backup/, model.keras, history.csv,
tensorboard/) into --run_dir. Rerunning the same command after a kill resumes after the last
finished epoch; a finished run is not redone; another configuration in the same --run_dir is
refused.
"""

import json
import os

from absl import app
import tensorflow as tf

from tenas_tf import data
from tenas_tf import train as train_lib
from tenas_tf.launch import _cli
from tenas_tf.launch import flags as tenas_flags
from tenas_tf.experiments import run_files

CONFIG_FILE = "train_config.json"
RESULT_FILE = "result.json"


def _genotype():
  arch, search_dir = tenas_flags.GENOTYPE.value, tenas_flags.SEARCH_RUN_DIR.value
  if (arch is None) == (search_dir is None):
    raise ValueError(f"give exactly one of --genotype and --search_run_dir; got "
                     f"--genotype={arch!r} and --search_run_dir={search_dir!r}")
  if arch is not None:
    return arch
  path = os.path.join(search_dir, "result.json")
  if not os.path.isfile(path):
    raise ValueError(f"--search_run_dir {search_dir!r} holds no finished search "
                     f"({path} is missing)")
  result = run_files.read_json(path)
  space = result.get("config", {}).get("space", tenas_flags.SPACE.value)
  if space != tenas_flags.SPACE.value:
    raise ValueError(f"--space {tenas_flags.SPACE.value!r} differs from the space searched in "
                     f"--search_run_dir {search_dir!r}, {space!r}")
  return result["genotype"]


def _config(source):
  return train_lib.TrainConfig(
      genotype=_genotype(), space=tenas_flags.SPACE.value, dataset=tenas_flags.DATASET.value,
      data_source=source.identity, channels=tenas_flags.CHANNELS.value,
      cells_per_stage=tenas_flags.CELLS_PER_STAGE.value, num_cells=tenas_flags.NUM_CELLS.value,
      image_size=tenas_flags.IMAGE_SIZE.value, epochs=tenas_flags.EPOCHS.value,
      steps_per_epoch=tenas_flags.STEPS_PER_EPOCH.value,
      batch_size=tenas_flags.BATCH_SIZE.value, learning_rate=tenas_flags.LEARNING_RATE.value,
      nesterov=tenas_flags.NESTEROV.value, weight_decay=tenas_flags.WEIGHT_DECAY.value,
      label_smoothing=tenas_flags.LABEL_SMOOTHING.value, cutout=tenas_flags.CUTOUT.value,
      drop_path_rate=tenas_flags.DROP_PATH_RATE.value,
      auxiliary_weight=tenas_flags.AUXILIARY_WEIGHT.value, init=tenas_flags.INIT.value,
      seed=tenas_flags.SEED.value, strategy=tenas_flags.STRATEGY.value,
      mixed_precision=tenas_flags.MIXED_PRECISION.value)


def _sources():
  """(training `data.DataSource`, held-out one or None) from the data flags of training.

  ImageNet-1k trains from --train_image_dir (held out: --eval_image_dir); the other datasets
  from --data_npz, random images (--dataset=synthetic) or TFDS, held out: --eval_npz, or for
  TFDS the dataset's test / validation split.
  """
  info = data.dataset_info(tenas_flags.DATASET.value)
  train_dir, eval_dir = tenas_flags.TRAIN_IMAGE_DIR.value, tenas_flags.EVAL_IMAGE_DIR.value
  options = dict(data_dir=tenas_flags.DATA_DIR.value, seed=tenas_flags.SEED.value,
                 synthetic_count=tenas_flags.SYNTHETIC_COUNT.value)
  if info.resize:
    others = [f"--{holder.name}" for holder in (tenas_flags.DATA_NPZ, tenas_flags.EVAL_NPZ)
              if holder.value]
    if not train_dir or others:
      raise ValueError(f"--dataset={info.name} trains from image files: give --train_image_dir "
                       f"(and optionally --eval_image_dir), no npz files; got "
                       f"--train_image_dir={train_dir!r} and {others or 'no npz flag'}")
    held_out = data.DataSource(info.name, image_dir=eval_dir, **options) if eval_dir else None
    return data.DataSource(info.name, image_dir=train_dir, **options), held_out
  if train_dir or eval_dir:
    raise ValueError(f"--train_image_dir and --eval_image_dir apply to --dataset=imagenet-1k "
                     f"only; got --dataset={info.name}")
  source = data.DataSource(info.name, data_npz=tenas_flags.DATA_NPZ.value or None, **options)
  eval_npz = tenas_flags.EVAL_NPZ.value
  if eval_npz:
    held_out = data.DataSource(info.name, data_npz=eval_npz, **options)
  elif source.kind == "tfds":
    held_out = data.DataSource(info.name, split=data.eval_split(info), **options)
  else:
    held_out = None
  return source, held_out


def _examples(source, held_out):
  """(training examples, held-out examples or None); image folders must agree on classes."""
  examples = source.examples()
  if held_out is None:
    return examples, None
  classes = data.image_folder_classes(source.image_dir) if source.kind == "image_dir" else None
  return examples, held_out.examples(classes=classes)


def _check_run_dir(run_dir, config):
  """Returns the finished result in `run_dir`, or None; refuses another run's directory."""
  run_files.check_writable(run_dir)
  config_path = os.path.join(run_dir, CONFIG_FILE)
  if os.path.exists(config_path):
    previous = run_files.read_json(config_path)
    differing = sorted(k for k in set(previous) | set(config.to_json())
                       if previous.get(k) != config.to_json().get(k))
    if differing:
      raise ValueError(f"run_dir {run_dir!r} holds a training run of another configuration "
                       f"(differs in {differing}); use a new --run_dir")
  result_path = os.path.join(run_dir, RESULT_FILE)
  return run_files.read_json(result_path) if os.path.exists(result_path) else None


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
  if tenas_flags.NUM_CPU_DEVICES.value is not None:
    train_lib.configure_cpu_devices(tenas_flags.NUM_CPU_DEVICES.value)
  source, held_out_source = _sources()
  config = _config(source)
  train_lib.check_mixed_precision(config.mixed_precision)
  run_dir = tenas_flags.RUN_DIR.value
  finished = _check_run_dir(run_dir, config)
  if finished is not None:
    print(f"already finished: {os.path.join(run_dir, RESULT_FILE)}")
    _print_result(finished)
    return
  # The data is loaded (and checked) before the run directory is claimed for this config.
  examples, held_out = _examples(source, held_out_source)
  run_files.write_json(os.path.join(run_dir, CONFIG_FILE), config.to_json())
  run_files.write_atomic(os.path.join(run_dir, "train.flags"),
                         tenas_flags.flagfile_text(tenas_flags.TRAIN_FLAGS))
  if tenas_flags.DETERMINISTIC_OPS.value:
    tf.config.experimental.enable_op_determinism()
  strategy = train_lib.make_strategy(config.strategy)
  result = train_lib.train(config, examples, held_out, run_dir, strategy=strategy)
  if train_lib.worker_dir(strategy, run_dir) == run_dir:  # the chief writes the run's files
    run_files.write_json(os.path.join(run_dir, RESULT_FILE), result)
  _print_result(result)


def main(argv):
  _cli.run_command(_train, argv)


def run_main():
  """Console-script entry point (`tenas-train`)."""
  app.run(main)


if __name__ == "__main__":
  run_main()
