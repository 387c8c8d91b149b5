r"""Training throughput (images per second) of the NB201 network, C=16, N=5, on this machine.

  python benchmarks/train_benchmark.py --batch_size=64 --steps=5

Times `Model.fit` steps of the retraining recipe (`tenas_tf.train`: PyTorchSGD with Nesterov
momentum and coupled weight decay, cosine schedule, cross-entropy, flip + pad-crop + cutout
pipeline on the real CIFAR-10 images in ../shared, or random images where they are absent),
after `--warmup` steps that trace the graph. The figure includes the input pipeline (it runs
ahead, in parallel) and excludes per-epoch work (validation, checkpoints). A benchmark, not a
test: the figures go in the README.
"""

import pathlib
import time

from absl import app
from absl import flags
import keras
import numpy as np

from tenas_tf import data
from tenas_tf import train

_SHARED = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar"
_GENOTYPE = flags.DEFINE_string(
    "genotype",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
    "|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    "The NB201 cell to train.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 64, "Training batch (NB201's protocol: 256).")
_STEPS = flags.DEFINE_integer("steps", 5, "Timed steps.")
_WARMUP = flags.DEFINE_integer("warmup", 2, "Untimed steps first (tracing).")
_CHANNELS = flags.DEFINE_integer("channels", 16, "C.")
_CELLS = flags.DEFINE_integer("cells_per_stage", 5, "N.")


class _StepTimes(keras.callbacks.Callback):

  def __init__(self):
    super().__init__()
    self.times = [time.perf_counter()]

  def on_train_batch_end(self, batch, logs=None):
    self.times.append(time.perf_counter())


def _examples():
  files = [_SHARED / f"cifar10_train_{part}.npz" for part in ("0000-0999", "1000-1999")]
  if all(path.exists() for path in files):
    return data.npz_examples([str(p) for p in files], 10), "real CIFAR-10 (2,000 images)"
  return data.synthetic_examples(2000, 32, 10, 0), "random images"


def _images_per_second(examples):
  info = data.dataset_info("cifar10")
  steps = _WARMUP.value + _STEPS.value
  model = train.build_network(train.parse_genotype("nb201", _GENOTYPE.value), 10, 32,
                              channels=_CHANNELS.value, cells_per_stage=_CELLS.value)
  schedule = keras.optimizers.schedules.CosineDecay(0.1, steps)
  model.compile(optimizer=train.PyTorchSGD(schedule, momentum=0.9, nesterov=True, l2=5e-4),
                loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
  batches = data.train_batches(*examples, info, _BATCH_SIZE.value, seed=0, cutout=16)
  timer = _StepTimes()
  model.fit(batches, epochs=1, steps_per_epoch=steps, callbacks=[timer], verbose=0,
            shuffle=False)
  timed = np.diff(timer.times)[_WARMUP.value:]
  return _BATCH_SIZE.value / np.median(timed), model.count_params()


def main(argv):
  del argv
  examples, source = _examples()
  speed, params = _images_per_second(examples)
  print(f"NB201 network C={_CHANNELS.value} N={_CELLS.value} ({params} parameters), batch "
        f"{_BATCH_SIZE.value}, {source}: {speed:.1f} training images/s (median of "
        f"{_STEPS.value} steps after {_WARMUP.value})")


if __name__ == "__main__":
  app.run(main)
