"""Retraining a found architecture with Keras `fit`: recipe, callbacks, resumption, strategies.

The recipe is NB201's training protocol by default (NAS-Bench-201, Dong & Yang, ICLR 2020,
section 2.3): SGD with Nesterov momentum 0.9, learning rate 0.1 annealed to 0 by a cosine over
all steps (per step, no warm-up), coupled L2 weight decay 5e-4 on every trainable variable
(`PyTorchSGD`), batch 256, 200 epochs, flip + pad-4 crop; optionally label smoothing, cutout,
drop-path and, for DARTS genotypes (`DartsNetwork`), the auxiliary head (the DARTS recipes).
ImageNet-1k trains from image files with random-resized crops (`data.imagenet_train_batches`);
the other datasets from images in memory (`data.train_batches`).

The run directory receives, from the chief worker:
- `backup/`: `keras.callbacks.BackupAndRestore`'s state after every epoch (weights, optimizer
  slots and step, epoch counter); the same call after a kill continues after the last finished
  epoch, with the same learning rate and the same batches as an uninterrupted run. It is deleted
  when training ends.
- `model.keras`: the model after the latest epoch (`keras.callbacks.ModelCheckpoint`), i.e. the
  final model once training ends; it loads with `keras.saving.load_model` (tenas_tf imported).
- `history.csv`: per-epoch loss, accuracy, val_loss, val_accuracy, learning rate and training
  images per second (appended across resumptions).
- `tensorboard/`: the same curves for TensorBoard.
"""

import csv
import dataclasses
import json
import logging
import os
import time

import keras
import tensorflow as tf

from tenas_tf import data as data_lib
from tenas_tf import checks
from tenas_tf.spaces import INIT_SCHEMES
from tenas_tf.train import distribute
from tenas_tf.train import networks
from tenas_tf.train import optimizer as optimizer_lib

_LOG = logging.getLogger(__name__)
MODEL_FILE = "model.keras"
HISTORY_FILE = "history.csv"
BACKUP_DIR = "backup"
TENSORBOARD_DIR = "tensorboard"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Everything that defines a retraining run; defaults are NB201's protocol on CIFAR-10.

  Attributes:
    genotype: the cell to train: an NB201 arch string, or a DARTS genotype in DARTS' text form
      or its JSON form (dict or text); stored as the canonical text (`to_string()`), so that
      every form of one genotype gives one configuration.
    space: search space of `genotype` ("nb201" or "darts").
    dataset: dataset name (`tenas_tf.data.DATASETS`), fixing image size, classes, mean, std.
    data_source: where the images come from: the `identity` of a `tenas_tf.data.DataSource`
      ("npz:/data/c10/a.npz;dataset=cifar10", "tfds:cifar10;dataset=cifar10;split=train", ...).
    channels: C, first-stage width (16 in NB201; DARTS: 36 CIFAR, 48 ImageNet).
    cells_per_stage: N (5 in NB201); NB201 only.
    num_cells: number of cells (DARTS: 20 CIFAR, 14 ImageNet); DARTS only.
    image_size: side of the training images; None: the dataset's (32 for CIFAR). Only
      ImageNet-1k, whose images are cropped from files of any size, takes another (DARTS: 224).
    epochs: training epochs (200).
    steps_per_epoch: batches per epoch; None: one pass, (training images) // batch_size.
    batch_size: global batch (256), split over replicas.
    learning_rate: peak learning rate of the cosine schedule (0.1).
    momentum: SGD momentum (0.9).
    nesterov: Nesterov momentum (True; DARTS: False).
    weight_decay: coupled L2 weight decay, PyTorch's `weight_decay` (5e-4).
    label_smoothing: label smoothing of the cross-entropy (0; 0.1 in the DARTS ImageNet recipe).
    cutout: cutout square side in pixels (0 in NB201; 16 in the DARTS CIFAR recipe).
    drop_path_rate: drop-path probability of each non-identity edge (0 in NB201).
    auxiliary_weight: weight of the auxiliary head's loss (DARTS CIFAR: 0.4); 0: no head.
      DARTS only.
    init: weight initialisation scheme (`tenas_tf.spaces.init.INIT_SCHEMES`).
    seed: seeds the weights, shuffles, augmentation and drop-path.
    strategy: one of `tenas_tf.train.distribute.STRATEGIES`.
    mixed_precision: compute in float16 with float32 variables (GPU only).
  """

  genotype: str
  space: str = "nb201"
  dataset: str = "cifar10"
  data_source: str = "tfds"
  channels: int = 16
  cells_per_stage: int = 5
  num_cells: int = 20
  image_size: int | None = None
  epochs: int = 200
  steps_per_epoch: int | None = None
  batch_size: int = 256
  learning_rate: float = 0.1
  momentum: float = 0.9
  nesterov: bool = True
  weight_decay: float = 5e-4
  label_smoothing: float = 0.0
  cutout: int = 0
  drop_path_rate: float = 0.0
  auxiliary_weight: float = 0.0
  init: str = "pytorch_default"
  seed: int = 0
  strategy: str = "default"
  mixed_precision: bool = False

  def __post_init__(self):
    # Frozen: the canonical text of the genotype replaces the form it was given in, once, here.
    object.__setattr__(self, "genotype",
                       networks.parse_genotype(self.space, self.genotype).to_string())
    info = data_lib.dataset_info(self.dataset)
    checks.one_of("init", self.init, INIT_SCHEMES)
    if self.strategy not in distribute.STRATEGIES:
      raise ValueError(f"strategy must be one of {distribute.STRATEGIES}; "
                       f"got {self.strategy!r}")
    for name, minimum in (("channels", 1), ("cells_per_stage", 1), ("num_cells", 1),
                          ("epochs", 1), ("batch_size", 1), ("cutout", 0), ("seed", 0)):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")
    if self.steps_per_epoch is not None and (
        isinstance(self.steps_per_epoch, bool) or not isinstance(self.steps_per_epoch, int)
        or self.steps_per_epoch < 1):
      raise ValueError(f"steps_per_epoch must be None or an int >= 1; "
                       f"got {self.steps_per_epoch!r}")
    for name, low, high in (("learning_rate", 0.0, None), ("momentum", 0.0, 1.0),
                            ("weight_decay", 0.0, None), ("label_smoothing", 0.0, 1.0),
                            ("drop_path_rate", 0.0, 1.0), ("auxiliary_weight", 0.0, None)):
      value = getattr(self, name)
      if (isinstance(value, bool) or not isinstance(value, (int, float)) or value < low
          or (high is not None and value >= high) or (name == "learning_rate" and value == 0)):
        bounds = f"> {low}" if name == "learning_rate" else (
            f"in [{low}, {high})" if high is not None else f">= {low}")
        raise ValueError(f"{name} must be a float {bounds}; got {value!r}")
    if self.auxiliary_weight and "auxiliary_weight" not in networks.NETWORK_OPTIONS[self.space]:
      raise ValueError(f"auxiliary_weight applies to space 'darts' only (DARTS' auxiliary "
                       f"head); got {self.auxiliary_weight!r} with space {self.space!r}")
    if self.image_size is not None and (isinstance(self.image_size, bool)
                                        or not isinstance(self.image_size, int)
                                        or self.image_size < 1):
      raise ValueError(f"image_size must be None or an int >= 1; got {self.image_size!r}")
    if self.image_size not in (None, info.image_size) and not info.resize:
      raise ValueError(f"image_size must be None or {info.image_size} for dataset {info.name!r} "
                       f"(its images have one size; only ImageNet-1k is cropped from files of "
                       f"any size); got {self.image_size!r}")
    if self.cutout and info.resize:
      raise ValueError(f"cutout applies to the CIFAR-style pipeline, not to dataset "
                       f"{info.name!r} (random-resized crops); got cutout={self.cutout}")

  @property
  def input_size(self):
    """Side S of the network's [S, S, 3] inputs: `image_size`, or the dataset's."""
    return self.image_size or data_lib.dataset_info(self.dataset).image_size

  def to_json(self):
    return dataclasses.asdict(self)


def completed_epochs(backup_dir):
  """Epochs finished by the run backed up in `backup_dir` (0 when there is no backup).

  Reads the epoch counter of `keras.callbacks.BackupAndRestore` (`training_metadata.json`).
  """
  path = os.path.join(backup_dir, "training_metadata.json")
  if not os.path.exists(path):
    return 0
  with open(path) as stream:
    return int(json.load(stream)["epoch"])


class _Throughput(keras.callbacks.Callback):
  """Adds `images_per_second` (training steps only, first step of the epoch excluded) and the
  epoch's learning rate to the epoch logs, ahead of the callbacks that write them."""

  def __init__(self, batch_size, schedule):
    super().__init__()
    self.batch_size = batch_size
    self.schedule = schedule
    self._times = []

  def on_epoch_begin(self, epoch, logs=None):
    self._times = []

  def on_train_batch_end(self, batch, logs=None):
    self._times.append(time.perf_counter())

  def on_epoch_end(self, epoch, logs=None):
    if logs is None:
      return
    if len(self._times) > 1:
      logs["images_per_second"] = (
          (len(self._times) - 1) * self.batch_size / (self._times[-1] - self._times[0]))
    logs["learning_rate"] = float(self.schedule(self.model.optimizer.iterations))


def _read_history(path):
  """Rows of `history.csv`, one per epoch (the last row wins where a resumed run repeated it)."""
  if not os.path.exists(path):
    return []
  by_epoch = {}
  with open(path, newline="") as stream:
    for row in csv.DictReader(stream):
      by_epoch[int(row["epoch"])] = {key: (int(value) if key == "epoch" else float(value))
                                     for key, value in row.items() if value not in ("", "NA")}
  return [by_epoch[epoch] for epoch in sorted(by_epoch)]


def check_mixed_precision(enabled):
  """Raises ValueError if `enabled` (mixed precision asked for) and no GPU is visible."""
  if enabled and not tf.config.list_physical_devices("GPU"):
    raise ValueError("mixed_precision needs a GPU (float16 convolutions on a CPU are slow or "
                     "unsupported); got mixed_precision=True with no GPU visible")


def _pipelines(config, info, train_examples, eval_examples):
  """(number of training images, start step -> training batches, held-out batches or None)."""
  if info.resize:  # ImageNet-1k: image files of any size, random-resized crops
    paths, labels = data_lib.check_files(*train_examples, info.num_classes, "training data")
    held_out = None if eval_examples is None else data_lib.imagenet_eval_batches(
        *eval_examples, info, config.input_size, config.batch_size)
    return len(paths), lambda start_step: data_lib.imagenet_train_batches(
        paths, labels, info, config.input_size, config.batch_size, seed=config.seed,
        start_step=start_step), held_out
  images, labels = data_lib.check_examples(*train_examples, info.num_classes, "training data")
  held_out = None if eval_examples is None else data_lib.eval_batches(*eval_examples, info,
                                                                      config.batch_size)
  return len(images), lambda start_step: data_lib.train_batches(
      images, labels, info, config.batch_size, seed=config.seed, cutout=config.cutout,
      start_step=start_step), held_out


def train(config, train_examples, eval_examples, run_dir, *, strategy=None, verbose=2):
  """Trains `config.genotype`'s network on labelled images; resumes a killed run in `run_dir`.

  Args:
    config: a `TrainConfig`.
    train_examples: the training set: (images uint8 [N, S, S, 3], labels int [N]); for
      ImageNet-1k (image files, `data.image_folder_examples`): (paths str [N],
      labels int [N]).
    eval_examples: the held-out examples in the same form, evaluated after every epoch and at
      the end; None skips evaluation.
    run_dir: output directory (see the module docstring); the same directory resumes.
    strategy: a `tf.distribute.Strategy`; None makes `config.strategy` (for `mirrored` on CPU
      devices, split the CPU first with `distribute.configure_cpu_devices`).
    verbose: `Model.fit`'s verbosity (2: one line per epoch).

  Returns:
    A JSON-ready dict: `genotype`, `config`, `steps_per_epoch`, `resumed_after_epoch`,
    `history` (per epoch: loss, accuracy, val_loss, val_accuracy, learning_rate,
    images_per_second), `eval` ({loss, accuracy} at the end; None without eval images),
    `num_params`, `replicas`, `seconds` (this call), `model_path`.

  Raises:
    ValueError: for invalid data, a batch larger than the training set, or mixed precision
      without a GPU.

  Example:
    >>> result = train(TrainConfig(genotype=arch, epochs=1, steps_per_epoch=10), (x, y),
    ...                (x_test, y_test), "runs/train")
    >>> result["eval"]["accuracy"]

  Reference: NAS-Bench-201 (Dong & Yang, ICLR 2020) section 2.3 (the training protocol).
  """
  start = time.perf_counter()
  info = data_lib.dataset_info(config.dataset)
  check_mixed_precision(config.mixed_precision)
  count, train_batches, eval_data = _pipelines(config, info, train_examples, eval_examples)
  steps_per_epoch = config.steps_per_epoch or count // config.batch_size
  if steps_per_epoch < 1:
    raise ValueError(f"batch_size must be at most the {count} training images; "
                     f"got {config.batch_size}")
  strategy = strategy or distribute.make_strategy(config.strategy)
  out_dir = distribute.worker_dir(strategy, run_dir)
  os.makedirs(out_dir, exist_ok=True)
  backup_dir = os.path.join(out_dir, BACKUP_DIR)
  resumed_after = completed_epochs(backup_dir)
  if resumed_after:
    _LOG.info("resuming after epoch %d of %d from %s", resumed_after, config.epochs, backup_dir)

  keras.utils.set_random_seed(config.seed)
  previous_policy = keras.mixed_precision.global_policy()
  if config.mixed_precision:
    keras.mixed_precision.set_global_policy("mixed_float16")
  try:
    with strategy.scope():
      model = networks.build_network(
          networks.parse_genotype(config.space, config.genotype), info.num_classes,
          config.input_size, seed=config.seed, init=config.init,
          **networks.network_options(config.space, config.dataset, config.to_json()))
      schedule = keras.optimizers.schedules.CosineDecay(
          config.learning_rate, decay_steps=config.epochs * steps_per_epoch, alpha=0.0)
      model.compile(
          optimizer=optimizer_lib.PyTorchSGD(schedule, momentum=config.momentum,
                                             nesterov=config.nesterov, l2=config.weight_decay),
          loss=keras.losses.CategoricalCrossentropy(from_logits=True,
                                                    label_smoothing=config.label_smoothing),
          metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
  finally:
    keras.mixed_precision.set_global_policy(previous_policy)

  train_data = train_batches(resumed_after * steps_per_epoch)
  model_path = os.path.join(out_dir, MODEL_FILE)
  # Order matters at an epoch's end: the model file and the log row are written before the
  # backup records the epoch as done, so a kill between them only repeats work.
  callbacks = [
      _Throughput(config.batch_size, schedule),
      keras.callbacks.ModelCheckpoint(model_path),
      keras.callbacks.CSVLogger(os.path.join(out_dir, HISTORY_FILE), append=True),
      keras.callbacks.TensorBoard(os.path.join(out_dir, TENSORBOARD_DIR)),
      keras.callbacks.BackupAndRestore(backup_dir, double_checkpoint=True),
  ]
  model.fit(train_data, epochs=config.epochs, steps_per_epoch=steps_per_epoch,
            validation_data=eval_data, callbacks=callbacks, verbose=verbose, shuffle=False)
  final_eval = None
  if eval_data is not None:
    final_eval = {k: float(v) for k, v in model.evaluate(eval_data, return_dict=True,
                                                         verbose=0).items()}
  return {
      "genotype": config.genotype,
      "config": config.to_json(),
      "steps_per_epoch": steps_per_epoch,
      "resumed_after_epoch": resumed_after,
      "history": _read_history(os.path.join(out_dir, HISTORY_FILE)),
      "eval": final_eval,
      "num_params": int(model.count_params()),
      "replicas": int(strategy.num_replicas_in_sync),
      "seconds": time.perf_counter() - start,
      "model_path": model_path,
  }
