"""Labelled images for retraining, and the deterministic training / evaluation pipelines.

Unlike the indicators, training needs labels, so these sources return (images, labels) numpy
arrays held in memory (CIFAR-10/100: 150 MB of uint8; ImageNet16-120: 116 MB): uint8 images
[N, S, S, 3] and int32 labels [N].

`train_batches` is a pure function of the step index: batch s is drawn from pass s // (N // B)
over the images, a stateless shuffle seeded by (seed, pass), and augmented with stateless
randomness seeded by (seed, s). A run resumed at step s0 therefore sees exactly the batches an
uninterrupted run would have seen from s0 on, whatever the number of processes in between.
The augmentation is the CIFAR recipe (DARTS / NB201 code): random horizontal flip, zero padding
of `info.pad` pixels and a random S x S crop, `(x / 255 - mean) / std`, then optionally cutout
(a `cutout` x `cutout` square, clipped at the border, set to 0 after normalisation).
Reference: TENAS_SPEC.md section 7; DeVries & Taylor 2017 (cutout).
"""

import os

import numpy as np
import tensorflow as tf

from tenas_tf.data import datasets as datasets_lib

# Separates the random streams of the pipeline that share one seed.
_SHUFFLE_STREAM = 0
_AUGMENT_STREAM = 1
# TFDS split holding the held-out images, per dataset.
_EVAL_SPLITS = {"cifar10": "test", "cifar100": "test", "imagenet16-120": "validation"}


def _check_int(name, value, minimum):
  if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
    raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")
  return int(value)


def check_examples(images, labels, num_classes, what):
  """Validates labelled images; returns them as (uint8 [N, H, W, 3], int32 [N]) arrays.

  Raises:
    ValueError: naming `what`, if the images are not uint8 [N, H, W, 3] with N >= 1, the
      labels not N integers, or a label outside [0, num_classes).
  """
  images, labels = np.asarray(images), np.asarray(labels)
  if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3 or not len(images):
    raise ValueError(f"images of {what} must be uint8 [N, H, W, 3] with N >= 1; "
                     f"got {images.dtype} {images.shape}")
  if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(f"labels of {what} must be {len(images)} integers, one per image; "
                     f"got {labels.dtype} {labels.shape}")
  bad = (labels < 0) | (labels >= num_classes)
  if np.any(bad):
    raise ValueError(f"labels of {what} must lie in [0, {num_classes}); got "
                     f"{int(labels[bad][0])} at index {int(np.argmax(bad))}")
  return images, labels.astype(np.int32)


def npz_examples(paths, num_classes):
  """Images `x` (uint8 [N, H, W, 3]) and labels `y` of one or several `.npz` files.

  Args:
    paths: a path, a comma-separated string of paths or a list of paths; the files are
      concatenated in that order (e.g. `shared/data/cifar/cifar10_train_*.npz`).
    num_classes: labels must lie in [0, num_classes).

  Returns:
    (images uint8 [N, H, W, 3], labels int32 [N]).

  Raises:
    ValueError: if a file is missing or lacks `x` or `y`, or the arrays are malformed.

  Example:
    >>> images, labels = npz_examples("cifar10_train_0000-0999.npz", 10)  # doctest: +SKIP
  """
  if isinstance(paths, (str, os.PathLike)):
    paths = [p.strip() for p in os.fspath(paths).split(",") if p.strip()]
  paths = [os.fspath(p) for p in paths]
  if not paths:
    raise ValueError("npz paths must name at least one .npz file; got none")
  images, labels = [], []
  for path in paths:
    if not os.path.isfile(path):
      raise ValueError(f"npz file {path!r} does not exist")
    with np.load(path, allow_pickle=False) as archive:
      missing = [key for key in ("x", "y") if key not in archive.files]
      if missing:
        raise ValueError(f"npz file {path!r} must hold images 'x' and labels 'y'; "
                         f"missing {missing}, got keys {tuple(archive.files)}")
      x, y = check_examples(archive["x"], archive["y"], num_classes, repr(path))
    if images and x.shape[1:] != images[0].shape[1:]:
      raise ValueError(f"images in {path!r} must have the size of those in {paths[0]!r}, "
                       f"{images[0].shape[1:]}; got {x.shape[1:]}")
    images.append(x)
    labels.append(y)
  return np.concatenate(images), np.concatenate(labels)


def tfds_examples(dataset, split, data_dir=None, download=True):
  """Images and labels of a TensorFlow Datasets split, in memory.

  Examples with a label >= `num_classes` are dropped (ImageNet16-120: the first 120 classes of
  `imagenet_resized/16x16`).

  Args:
    dataset: "cifar10", "cifar100" or "imagenet16-120" (or its `DatasetInfo`).
    split: "train", or `eval_split(dataset)` for the held-out images.
    data_dir: TFDS data directory (None: TFDS's default).
    download: whether TFDS may download and prepare the dataset.

  Returns:
    (images uint8 [N, S, S, 3], labels int32 [N]).

  Raises:
    ValueError: for a dataset without TFDS images of a fixed size (synthetic, ImageNet-1k).
  """
  info = datasets_lib.dataset_info(dataset)
  if info.name not in _EVAL_SPLITS:
    raise ValueError(f"dataset must be one of {tuple(_EVAL_SPLITS)} to train from TFDS; "
                     f"got {info.name!r}")
  # Imported here: tensorflow_datasets takes seconds to import and only this source needs it.
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  supervised = tfds.load(info.tfds_name, split=split, data_dir=data_dir, download=download,
                         as_supervised=True)
  chunks = list(tfds.as_numpy(supervised.batch(10_000)))
  if not chunks:
    raise ValueError(f"TFDS {info.tfds_name} split {split!r} holds no examples")
  images = np.concatenate([chunk[0] for chunk in chunks])
  labels = np.concatenate([chunk[1] for chunk in chunks])
  keep = labels < info.num_classes
  return check_examples(images[keep], labels[keep], info.num_classes,
                        f"TFDS {info.tfds_name} {split}")


def eval_split(dataset):
  """The TFDS split of held-out images: "test" for CIFAR, "validation" for ImageNet16-120."""
  info = datasets_lib.dataset_info(dataset)
  if info.name not in _EVAL_SPLITS:
    raise ValueError(f"dataset must be one of {tuple(_EVAL_SPLITS)}; got {info.name!r}")
  return _EVAL_SPLITS[info.name]


def synthetic_examples(count, image_size, num_classes, seed):
  """Random uint8 images with random labels (offline smoke runs; nothing to learn)."""
  count = _check_int("count", count, 1)
  rng = np.random.default_rng(_check_int("seed", seed, 0))
  images = rng.integers(0, 256, size=(count, image_size, image_size, 3), dtype=np.uint8)
  return images, rng.integers(0, num_classes, size=count).astype(np.int32)


def _normalize(pixels, info):
  """Float pixels on the 0..255 scale -> (pixels / 255 - mean) / std, per channel."""
  return (pixels / 255.0 - tf.constant(info.mean, tf.float32)) / tf.constant(info.std,
                                                                             tf.float32)


def _stream_seeds(seed, stream, index, num):
  base = tf.constant([seed, stream], tf.int64)
  return tf.unstack(tf.random.experimental.stateless_split(
      tf.random.experimental.stateless_fold_in(base, index), num=num))


def _check_batch_size(batch_size, count):
  """`batch_size`, an int from 1 to the number of training examples `count`."""
  batch_size = _check_int("batch_size", batch_size, 1)
  if batch_size > count:
    raise ValueError(f"batch_size must be at most the {count} training images; "
                     f"got {batch_size}")
  return batch_size


def _step_batches(count, batch_size, seed, start_step):
  """An infinite dataset of (step, example indices [batch_size]) from step `start_step` on.

  Each pass over the `count` examples is a new permutation seeded by (seed, pass), cut into
  batches (the incomplete last one dropped) and shuffled once per pass, not once per step (an
  ImageNet permutation has 1.28M entries). The batches are a function of the step alone, so a
  resumed run sees the batches an uninterrupted one would.
  """
  per_pass = count // batch_size

  def batches_of_pass(pass_index):
    pass_seed = _stream_seeds(seed, _SHUFFLE_STREAM, pass_index, 1)[0]
    order = tf.random.experimental.stateless_shuffle(tf.range(count), pass_seed)
    index = tf.reshape(order[:per_pass * batch_size], [per_pass, batch_size])
    steps = pass_index * per_pass + tf.range(per_pass, dtype=tf.int64)
    return tf.data.Dataset.from_tensor_slices((steps, index))

  first_pass = start_step // per_pass
  passes = tf.data.Dataset.range(first_pass, np.iinfo(np.int64).max)
  return passes.flat_map(batches_of_pass).skip(start_step - first_pass * per_pass)


def _augment(pixels, info, cutout, seeds):
  """Flip, pad-crop, normalise and cut out a uint8 batch [B, S, S, 3] -> float32."""
  flip_seed, top_seed, left_seed, row_seed, col_seed = seeds
  batch, size, pad = tf.shape(pixels)[0], info.image_size, info.pad
  pixels = tf.cast(pixels, tf.float32)
  flip = tf.random.stateless_uniform([batch], flip_seed) < 0.5
  pixels = tf.where(flip[:, None, None, None], tf.reverse(pixels, axis=[2]), pixels)
  padded = tf.pad(pixels, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
  top = tf.random.stateless_uniform([batch], top_seed, 0, 2 * pad + 1, tf.int32)
  left = tf.random.stateless_uniform([batch], left_seed, 0, 2 * pad + 1, tf.int32)
  offsets = tf.range(size, dtype=tf.int32)
  cropped = tf.gather(padded, top[:, None] + offsets, axis=1, batch_dims=1)
  cropped = tf.gather(cropped, left[:, None] + offsets, axis=2, batch_dims=1)
  images = _normalize(cropped, info)
  if cutout:
    # DARTS's Cutout: centre (y, x) uniform over the image; rows [y - L//2, y + L//2) and the
    # same columns, clipped at the border, are zeroed after normalisation.
    row = tf.random.stateless_uniform([batch], row_seed, 0, size, tf.int32)
    col = tf.random.stateless_uniform([batch], col_seed, 0, size, tf.int32)
    half = cutout // 2
    in_rows = (offsets >= row[:, None] - half) & (offsets < row[:, None] + half)
    in_cols = (offsets >= col[:, None] - half) & (offsets < col[:, None] + half)
    hole = in_rows[:, :, None] & in_cols[:, None, :]
    images = images * tf.cast(~hole, tf.float32)[..., None]
  return images


def _finish(dataset):
  options = tf.data.Options()
  options.deterministic = True
  return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)


def train_batches(images, labels, info, batch_size, *, seed, cutout=0, start_step=0):
  """Infinite, deterministic batches of augmented images and one-hot labels.

  Args:
    images: uint8 [N, S, S, 3] numpy array, S = `info.image_size`.
    labels: int [N] labels in [0, info.num_classes).
    info: the dataset's `DatasetInfo` (or name): image size, padding, mean, std, classes.
    batch_size: images per batch (the global batch under a distribution strategy), <= N.
    seed: int; fixes the shuffles, flips, crops and cutouts.
    cutout: side of the cutout square in pixels (16 in the DARTS recipe); 0 turns it off.
    start_step: index of the first batch; a run resumed after k steps passes k.

  Returns:
    An infinite `tf.data.Dataset` of (float32 [B, S, S, 3], float32 one-hot [B, classes]).
    Every pass over the images is a fresh permutation; its last N mod B images wait for a
    later pass (drop remainder), so all batches have B images.

  Raises:
    ValueError: if an argument is invalid, e.g. a batch larger than the images.

  Example:
    >>> batches = train_batches(x, y, "cifar10", 256, seed=0, cutout=16)
    >>> images, one_hot = next(iter(batches))   # [256, 32, 32, 3], [256, 10]

  Reference: NB201 (Dong & Yang, ICLR 2020) section 2.3; TENAS_SPEC.md section 7.
  """
  info = datasets_lib.dataset_info(info)
  images, labels = check_examples(images, labels, info.num_classes, "train_batches")
  if images.shape[1:] != (info.image_size, info.image_size, 3):
    raise ValueError(f"images of train_batches must be {info.image_size}x{info.image_size}x3 "
                     f"for dataset {info.name!r}; got {images.shape[1:]}")
  count = len(images)
  batch_size = _check_batch_size(batch_size, count)
  seed = _check_int("seed", seed, 0)
  cutout = _check_int("cutout", cutout, 0)
  start_step = _check_int("start_step", start_step, 0)
  images_t, labels_t = tf.constant(images), tf.constant(labels)

  def batch_of_step(step, index):
    pixels = _augment(tf.gather(images_t, index), info, cutout,
                      _stream_seeds(seed, _AUGMENT_STREAM, step, 5))
    pixels.set_shape([batch_size, info.image_size, info.image_size, 3])
    return pixels, tf.one_hot(tf.gather(labels_t, index), info.num_classes)

  steps = _step_batches(count, batch_size, seed, start_step)
  return _finish(steps.map(batch_of_step, num_parallel_calls=tf.data.AUTOTUNE,
                           deterministic=True))


def eval_batches(images, labels, info, batch_size):
  """The held-out images in order, normalised, with one-hot labels (last batch may be short).

  Args:
    images: uint8 [N, S, S, 3]; labels: int [N]; info: `DatasetInfo` or name;
    batch_size: images per batch.

  Returns:
    A finite `tf.data.Dataset` of (float32 [<=B, S, S, 3], float32 one-hot [<=B, classes]).
  """
  info = datasets_lib.dataset_info(info)
  images, labels = check_examples(images, labels, info.num_classes, "eval_batches")
  batch_size = _check_int("batch_size", batch_size, 1)
  dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)
  return _finish(dataset.map(
      lambda x, y: (_normalize(tf.cast(x, tf.float32), info), tf.one_hot(y, info.num_classes)),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True))
