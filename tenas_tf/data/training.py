"""Deterministic training and evaluation pipelines of labelled images held in memory (CIFAR recipe).

`train_batches` is a pure function of the step index: batch s is drawn from pass s // (N // B)
over the images, a stateless shuffle seeded by (seed, pass), and augmented with stateless
randomness seeded by (seed, s). A run resumed at step s0 therefore sees exactly the batches an
uninterrupted run would have seen from s0 on, whatever the number of processes in between.
The augmentation is the CIFAR recipe of the DARTS and NAS-Bench-201 code: random horizontal
flip, zero padding of `info.pad` pixels and a random S x S crop (the indicators' NTK batches
use the same), `(x / 255 - mean) / std`, then optionally cutout (a `cutout` x `cutout` square,
clipped at the border, set to 0 after normalisation).

Reference: Dong & Yang, NAS-Bench-201 (ICLR 2020) section 2.3; Liu et al., DARTS (ICLR 2019)
appendix A.2; DeVries & Taylor 2017 (cutout).
"""

import tensorflow as tf

from tenas_tf import checks
from tenas_tf.data import _ops
from tenas_tf.data import datasets as datasets_lib
from tenas_tf.data import sources

# Separate the random streams of the pipelines that share one seed.
SHUFFLE_STREAM = 0
AUGMENT_STREAM = 1


def check_batch_size(batch_size, count):
  """`batch_size` as an int from 1 to `count`, the number of training examples."""
  return checks.integer("batch_size", batch_size, 1, count,
                        why="at most the number of training examples")


def _cutout(images, size, cutout, row_seed, col_seed):
  """DARTS's Cutout: a `cutout` square centred uniformly, clipped at the border, zeroed."""
  batch = tf.shape(images)[0]
  offsets = tf.range(size, dtype=tf.int32)
  # Centre (y, x) uniform over the image; rows [y - L//2, y + L//2) and the same columns.
  row = tf.random.stateless_uniform([batch], row_seed, 0, size, tf.int32)
  col = tf.random.stateless_uniform([batch], col_seed, 0, size, tf.int32)
  half = cutout // 2
  in_rows = (offsets >= row[:, None] - half) & (offsets < row[:, None] + half)
  in_cols = (offsets >= col[:, None] - half) & (offsets < col[:, None] + half)
  hole = in_rows[:, :, None] & in_cols[:, None, :]
  return images * tf.cast(~hole, tf.float32)[..., None]


def _augment(pixels, info, cutout, seeds):
  """Flip, pad-crop, normalise and cut out a uint8 batch [B, S, S, 3] -> float32."""
  flip_seed, top_seed, left_seed, row_seed, col_seed = seeds
  cropped = _ops.flip_pad_crop(tf.cast(pixels, tf.float32), tf.shape(pixels)[0], info.pad,
                               info.image_size, flip_seed, top_seed, left_seed)
  images = _ops.normalize(cropped, info)
  if cutout:
    images = _cutout(images, info.image_size, cutout, row_seed, col_seed)
  return images


def train_batches(images, labels, info, batch_size, *, seed, cutout=0, start_step=0):
  """Infinite, deterministic batches of augmented images and one-hot labels.

  Args:
    images: uint8 [N, S, S, 3] numpy array, S = `info.image_size`.
    labels: int [N] labels in [0, info.num_classes).
    info: the dataset's `DatasetInfo` (or name): image size, padding, mean, std, classes.
    batch_size: images per batch (the global batch under a distribution strategy), <= N.
    seed: int >= 0; fixes the shuffles, flips, crops and cutouts.
    cutout: side of the cutout square in pixels (16 in the DARTS recipe); 0 turns it off.
    start_step: index of the first batch; a run resumed after k steps passes k.

  Returns:
    An infinite `tf.data.Dataset` of (float32 [B, S, S, 3], float32 one-hot [B, classes]).
    Every pass over the images is a fresh permutation; its last N mod B images wait for a
    later pass (drop remainder), so all batches have B images.

  Raises:
    ValueError: if an argument is invalid, e.g. a batch larger than the images.

  Example:

  >>> x, y = synthetic_examples(512, 32, 10, seed=0)
  >>> images, one_hot = next(iter(train_batches(x, y, "cifar10", 256, seed=0, cutout=16)))
  >>> images.shape, one_hot.shape
  (TensorShape([256, 32, 32, 3]), TensorShape([256, 10]))

  Reference: NAS-Bench-201 (Dong & Yang, ICLR 2020) section 2.3; DARTS (Liu et al., ICLR 2019).
  """
  info = datasets_lib.dataset_info(info)
  images, labels = sources.check_examples(images, labels, info.num_classes, "train_batches")
  if images.shape[1:] != (info.image_size, info.image_size, 3):
    raise ValueError(f"images of train_batches must be {info.image_size}x{info.image_size}x3 "
                     f"for dataset {info.name!r}; got {images.shape[1:]}")
  count = len(images)
  batch_size = check_batch_size(batch_size, count)
  seed = checks.integer("seed", seed, 0)
  cutout = checks.integer("cutout", cutout, 0)
  start_step = checks.integer("start_step", start_step, 0)
  images_t, labels_t = tf.constant(images), tf.constant(labels)

  def batch_of_step(step, index):
    pixels = _augment(tf.gather(images_t, index), info, cutout,
                      _ops.stateless_seeds(seed, AUGMENT_STREAM, step, 5))
    pixels.set_shape([batch_size, info.image_size, info.image_size, 3])
    return pixels, tf.one_hot(tf.gather(labels_t, index), info.num_classes)

  steps = _ops.step_batches(count, batch_size, seed, SHUFFLE_STREAM, start_step)
  return _ops.finish(steps.map(batch_of_step, num_parallel_calls=tf.data.AUTOTUNE,
                               deterministic=True))


def eval_batches(images, labels, info, batch_size):
  """The held-out images in order, normalised, with one-hot labels (last batch may be short).

  Args:
    images: uint8 [N, S, S, 3]; labels: int [N]; info: `DatasetInfo` or name;
    batch_size: images per batch, >= 1.

  Returns:
    A finite `tf.data.Dataset` of (float32 [<=B, S, S, 3], float32 one-hot [<=B, classes]).

  Raises:
    ValueError: if the examples or `batch_size` are invalid.
  """
  info = datasets_lib.dataset_info(info)
  images, labels = sources.check_examples(images, labels, info.num_classes, "eval_batches")
  batch_size = checks.integer("batch_size", batch_size, 1)
  dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)
  return _ops.finish(dataset.map(
      lambda x, y: (_ops.normalize(tf.cast(x, tf.float32), info),
                    tf.one_hot(y, info.num_classes)),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True))
