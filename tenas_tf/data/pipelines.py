"""Deterministic tf.data pipelines that feed the two TE-NAS indicators.

* `ntk_batches`: batches of training images with the standard training augmentation
  (random horizontal flip, zero-pad, random crop), normalised; the NTK condition number is
  computed on one such batch (TE-NAS, Chen et al., ICLR 2021).
* `linear_region_batches`: batches of 3x3x1 samples, each a random 3x3 crop of one image,
  normalised, with one randomly chosen colour channel kept; the linear-region count uses
  3 x 1000 of them (as the TE-NAS authors' code).

The reference draws its batches and crops from unseeded PyTorch loaders, so the same seed can
give another architecture. Here every random choice comes from `seed`: the augmentation uses
stateless random ops seeded by (`seed`, batch index), and the shuffle has an explicit op seed.
The same seed and images give the same batches in the same order, in every process. Two caveats
of `Dataset.shuffle` itself: TF combines its op seed with the global seed when one is set
(`tf.random.set_seed`, `keras.utils.set_random_seed`), so set that the same way too; and with
`reshuffle_each_iteration=True` each new iterator over the same dataset object starts a new
shuffle order, so create one iterator and keep drawing from it.

Augmentation runs on whole batches (vectorised gathers) rather than per image, so the 3000 LR
samples of one count take three `map` calls rather than 3000.
"""

import tensorflow as tf

from tenas_tf import checks
from tenas_tf.data import _ops
from tenas_tf.data import caching
from tenas_tf.data import datasets as datasets_lib
from tenas_tf.data import sources

# Default shuffle buffer, in images: 10k uint8 CIFAR images are 31 MB.
DEFAULT_SHUFFLE_BUFFER = 10_000
# Separates the random streams of the two pipelines when they share a seed.
_NTK_STREAM = 0
_LR_STREAM = 1
_LR_CROP = 3


def _check_arguments(batch_size, minimum, why, seed, shuffle_buffer):
  return (checks.integer("batch_size", batch_size, minimum, why=why),
          checks.integer("seed", seed), checks.integer("shuffle_buffer", shuffle_buffer, 1))


def _shuffled_batches(images, batch_size, seed, shuffle_buffer):
  """cache -> shuffle (seeded, new order each epoch) -> repeat -> batch, with batch indices."""
  batches = (images.cache()
             .shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
             .repeat()
             .batch(batch_size, drop_remainder=True))
  return tf.data.Dataset.zip(batches, tf.data.Dataset.counter())


def _check_enough_images(images, batch_size):
  """Refuses fewer images than one NTK batch: the batch would repeat images, and its kernel
  would then be singular or meaningless without any other sign of it."""
  count = int(images.cardinality())
  if count == tf.data.INFINITE_CARDINALITY:
    return
  if count == tf.data.UNKNOWN_CARDINALITY:  # e.g. filtered files: count them, one pass
    count = caching.count_elements(images)
  if count < batch_size:
    raise ValueError(f"an NTK batch of {batch_size} images needs at least {batch_size} distinct "
                     f"images; the image source holds {count} (give more images or a smaller "
                     f"NTK batch)")


def ntk_batches(images, info, batch_size, seed, *, shuffle_buffer=DEFAULT_SHUFFLE_BUFFER):
  """Infinite, deterministic batches of augmented, normalised images for the NTK.

  Per image, as the reference's training transform: random horizontal flip (p = 0.5); zero
  padding of `info.pad` pixels on every side (black pixels, before normalisation, so they become
  -mean / std); a random S x S crop; division by 255; `(x - mean) / std` per channel.

  Args:
    images: a finite `tf.data.Dataset` of uint8 images [S, S, 3], S = `info.image_size`, e.g.
      from `load_images`. It is cached in memory.
    info: the dataset's `DatasetInfo` (or its name).
    batch_size: images per batch, >= 2 (72 NB201, 14 DARTS-CIFAR, 24 DARTS-ImageNet).
    seed: int; fixes the shuffle order and the flips and crops.
    shuffle_buffer: size of the shuffle buffer, in images.

  Returns:
    An infinite `tf.data.Dataset` of float32 [batch_size, S, S, 3].

  Raises:
    ValueError: if `images` are not uint8 [S, S, 3], or an argument is invalid.

  Example:

  >>> info = dataset_info("synthetic")
  >>> batches = ntk_batches(load_images(info, synthetic_count=64), info, batch_size=8, seed=0)
  >>> next(iter(batches)).shape
  TensorShape([8, 32, 32, 3])

  Reference: TE-NAS (Chen et al., ICLR 2021), the NTK condition number; the inputs are the
  training transform of NAS-Bench-201's code (Dong & Yang, ICLR 2020).
  """
  info = datasets_lib.dataset_info(info)
  batch_size, seed, shuffle_buffer = _check_arguments(
      batch_size, 2, "a condition number needs at least 2 samples", seed, shuffle_buffer)
  size, pad = info.image_size, info.pad
  sources.check_image_spec(images, size, "images for ntk_batches")
  _check_enough_images(images, batch_size)

  def augment(batch, index):
    seeds = _ops.stateless_seeds(seed, _NTK_STREAM, index, 3)
    pixels = _ops.flip_pad_crop(tf.cast(batch, tf.float32), batch_size, pad, size, *seeds)
    return _ops.normalize(pixels, info)

  batches = _shuffled_batches(images, batch_size, seed, shuffle_buffer)
  return _ops.finish(batches.map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True))


def linear_region_batches(images, info, batch_size=1000, seed=0, *,
                          shuffle_buffer=DEFAULT_SHUFFLE_BUFFER):
  """Infinite, deterministic batches of 3x3x1 samples for the linear-region count.

  Per sample, as the reference's LR transform: one image (each image of a batch is a different
  draw of the shuffle), a random 3x3 crop without padding, division by 255, `(x - mean) / std`
  per channel, then ONE colour channel chosen uniformly at random. Tiny inputs keep the number
  of distinct ReLU patterns below the sample count, so that architectures stay distinguishable.

  Args:
    images: a finite `tf.data.Dataset` of uint8 images [H, W, 3] (H, W >= 3, the same for all
      images), e.g. from `load_images`. It is cached in memory.
    info: the dataset's `DatasetInfo` (or its name); gives the mean and std.
    batch_size: samples per batch, >= 1 (1000 in the reference, which counts over 3 batches).
    seed: int; fixes the shuffle order, the crops and the channels.
    shuffle_buffer: size of the shuffle buffer, in images.

  Returns:
    An infinite `tf.data.Dataset` of float32 [batch_size, 3, 3, 1].

  Raises:
    ValueError: if `images` are not uint8 [H, W, 3] with H, W >= 3, or an argument is invalid.

  Example:

  >>> info = dataset_info("synthetic")
  >>> samples = linear_region_batches(load_images(info), info, batch_size=1000, seed=0)
  >>> next(iter(samples)).shape
  TensorShape([1000, 3, 3, 1])

  Reference: TE-NAS (Chen et al., ICLR 2021), the number of linear regions, counted on 3x3x1
  crops by the authors' code.
  """
  info = datasets_lib.dataset_info(info)
  batch_size, seed, shuffle_buffer = _check_arguments(
      batch_size, 1, "at least one sample", seed, shuffle_buffer)
  sources.check_image_spec(images, None, "images for linear_region_batches")
  height, width = images.element_spec.shape[:2]
  if (height is not None and height < _LR_CROP) or (width is not None and width < _LR_CROP):
    raise ValueError(f"images for linear_region_batches must be at least {_LR_CROP}x{_LR_CROP}; "
                     f"got {tuple(images.element_spec.shape)}")

  def sample(batch, index):
    top_seed, left_seed, channel_seed = _ops.stateless_seeds(seed, _LR_STREAM, index, 3)
    shape = tf.shape(batch)
    top = tf.random.stateless_uniform([batch_size], top_seed, 0, shape[1] - _LR_CROP + 1,
                                      tf.int32)
    left = tf.random.stateless_uniform([batch_size], left_seed, 0, shape[2] - _LR_CROP + 1,
                                       tf.int32)
    channel = tf.random.stateless_uniform([batch_size], channel_seed, 0, 3, tf.int32)
    crops = _ops.normalize(_ops.crop(tf.cast(batch, tf.float32), top, left, _LR_CROP), info)
    return tf.gather(crops, channel[:, None], axis=3, batch_dims=1)

  batches = _shuffled_batches(images, batch_size, seed, shuffle_buffer)
  return _ops.finish(batches.map(sample, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True))
