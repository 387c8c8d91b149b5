"""A retraining run in a run directory: its configuration, resumption and typed result.

Run directory (besides `tenas_tf.train.train`'s backup/, model.keras, history.csv, tensorboard/):
  run.json           {"kind": "training"}.
  train_config.json  the `train.TrainConfig`, written when the run starts; a rerun with another
                     configuration is refused, naming the settings that differ.
  train.flags        the flags that rerun it, written once the run is accepted.
  result.json        at the end: `tenas_tf.train.train`'s result.
Rerunning the same configuration after a kill resumes after the last finished epoch; a finished
run is returned, not redone.
"""

import dataclasses
import os
import sys

import tensorflow as tf

from tenas_tf import data as data_lib
from tenas_tf import train as train_lib
from tenas_tf.experiments import run_files

CONFIG_FILE = "train_config.json"
RESULT_FILE = "result.json"
FLAG_FILE = "train.flags"


@dataclasses.dataclass(frozen=True)
class TrainingJob:
  """A retraining run as a binary starts it.

  Attributes:
    config: the `train.TrainConfig` (its `data_source` is `source.identity`).
    source: the `data.DataSource` of the labelled training examples.
    held_out: the `data.DataSource` evaluated after every epoch, or None.
    run_dir: the run directory.
    deterministic_ops: turn on TensorFlow op determinism.
    num_cpu_devices: split the CPU into this many logical devices first (None: leave it).
    flag_file: text of the flags that rerun it, written once the run is accepted (None: none).
  """

  config: train_lib.TrainConfig
  source: data_lib.DataSource
  held_out: data_lib.DataSource | None
  run_dir: str
  deterministic_ops: bool = True
  num_cpu_devices: int | None = None
  flag_file: str | None = None


@dataclasses.dataclass(frozen=True)
class TrainingOutcome:
  """What a call of `run_training` did: the result, and whether it was already there."""

  result: dict
  already_finished: bool


def _check_run_dir(run_dir, config):
  """The finished result in `run_dir`, or None; refuses another kind or configuration of run."""
  run_files.check_writable(run_dir)
  kind = run_files.run_kind(run_dir)
  if kind not in (None, run_files.TRAINING):
    raise ValueError(f"run_dir {run_dir!r} holds a {kind} run, not a training run; use a new "
                     f"run directory")
  config_path = os.path.join(run_dir, CONFIG_FILE)
  if os.path.exists(config_path):
    differing = run_files.differences(run_files.read_json(config_path), config.to_json())
    if differing:
      raise ValueError(f"run_dir {run_dir!r} holds a training run of another configuration "
                       f"({differing}); rerun with the run's own settings to resume it, or use "
                       f"a new run directory")
  result_path = os.path.join(run_dir, RESULT_FILE)
  return run_files.read_json(result_path) if os.path.exists(result_path) else None


def _examples(source, held_out):
  """(training examples, held-out examples or None); image folders must agree on classes."""
  examples = source.examples()
  if held_out is None:
    return examples, None
  classes = data_lib.image_folder_classes(source.image_dir) if source.kind == "image_dir" else None
  return examples, held_out.examples(classes=classes)


def run_training(job):
  """Trains (or resumes, or returns) the run of `job`.

  The data is loaded and checked before the run directory is claimed, so a run refused for its
  data or configuration leaves no file behind and changes none.

  Returns:
    A `TrainingOutcome`: `tenas_tf.train.train`'s result dict (also in result.json) and whether
    the run had already finished.

  Raises:
    ValueError: mixed precision without a GPU, a run directory of another kind or configuration,
      or bad data (the message names it).
  """
  if job.num_cpu_devices is not None:  # before anything initialises TensorFlow's devices
    train_lib.configure_cpu_devices(job.num_cpu_devices)
  config, run_dir = job.config, job.run_dir
  train_lib.check_mixed_precision(config.mixed_precision)
  finished = _check_run_dir(run_dir, config)
  if finished is not None:
    return TrainingOutcome(finished, already_finished=True)
  examples, held_out = _examples(job.source, job.held_out)
  run_files.start_run(run_dir, run_files.TRAINING)
  run_files.write_json(os.path.join(run_dir, CONFIG_FILE), config.to_json())
  if job.flag_file is not None:
    run_files.write_atomic(os.path.join(run_dir, FLAG_FILE), job.flag_file)
  if job.deterministic_ops:
    tf.config.experimental.enable_op_determinism()
  strategy = train_lib.make_strategy(config.strategy)
  # On a terminal Keras draws a per-step bar with an ETA; in a log, one line per epoch (its bar
  # would print a line for every update there).
  verbose = 1 if sys.stdout.isatty() else 2
  result = train_lib.train(config, examples, held_out, run_dir, strategy=strategy,
                           verbose=verbose)
  if train_lib.worker_dir(strategy, run_dir) == run_dir:  # the chief writes the run's files
    run_files.write_json(os.path.join(run_dir, RESULT_FILE), result)
  return TrainingOutcome(result, already_finished=False)


def read_training(run_dir):
  """(config dict, finished) of the training run in `run_dir`, for the steps after it.

  Raises:
    ValueError: `run_dir` holds no training run, or its config file is missing or damaged.
  """
  kind = run_files.run_kind(run_dir)
  if kind != run_files.TRAINING:
    raise ValueError(f"{run_dir!r} holds {f'a {kind} run' if kind else 'no run'}, not a "
                     f"training run")
  config_path = os.path.join(run_dir, CONFIG_FILE)
  if not os.path.isfile(config_path):
    raise ValueError(f"training run {run_dir!r} has no {CONFIG_FILE}: it never started; rerun "
                     f"it")
  return (run_files.read_json(config_path),
          os.path.isfile(os.path.join(run_dir, RESULT_FILE)))
