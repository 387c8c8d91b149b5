"""ImageNet-1k training pipelines: image files, random-resized crops, deterministic batches.

ImageNet images come in all sizes and do not fit in memory decoded, so unlike `training` these
pipelines hold only file paths and labels (`image_folder_examples`) and decode each image when
its batch is made. The augmentation is the one of DARTS' ImageNet training (torchvision's):
`RandomResizedCrop(S)` (a crop of 8 % to 100 % of the image area with aspect ratio in
[3/4, 4/3], resized to S x S, bilinear with antialiasing), random horizontal flip,
`(x / 255 - mean) / std`; held-out images are resized to a shorter side of S * 256 / 224 and
centre-cropped to S x S (`Resize(256)`, `CenterCrop(224)` at S = 224). The crop box is drawn by
TensorFlow's `stateless_sample_distorted_bounding_box` (aspect ratio uniform rather than
log-uniform, the whole image after 10 failed draws rather than a centre crop): the same
distribution up to those details. DARTS' colour jitter is not applied.

As in `training`, batch s is a pure function of (seed, s): pass s // (N // B) over the files in
a stateless shuffle, each image augmented with randomness seeded by (seed, s, position), so a
run resumed at step s0 sees the batches an uninterrupted run would.

Reference: Liu et al., DARTS (ICLR 2019) appendix A.2.
"""

import tensorflow as tf

from tenas_tf import checks
from tenas_tf.data import _ops
from tenas_tf.data import datasets as datasets_lib
from tenas_tf.data import sources
from tenas_tf.data import training

# The crop of `RandomResizedCrop`: area fraction and aspect ratio (width / height) ranges.
CROP_AREA = (0.08, 1.0)
CROP_ASPECT_RATIO = (3.0 / 4.0, 4.0 / 3.0)
# Held-out images: shorter side resized to S * 256 / 224, then the central S x S.
EVAL_RESIZE_RATIO = 256.0 / 224.0


def _decode(path):
  return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)


def _random_resized_crop(image, size, seed):
  """A random crop of `image` (uint8 [H, W, 3]) resized to float [size, size, 3] (0..255)."""
  begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
      tf.shape(image), bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seed,
      min_object_covered=0.0, aspect_ratio_range=CROP_ASPECT_RATIO, area_range=CROP_AREA,
      max_attempts=10, use_image_if_no_bounding_boxes=True)
  crop = tf.slice(image, begin, crop_size)
  return tf.image.resize(crop, [size, size], method="bilinear", antialias=True)


def _centre_crop(image, size):
  """`image` resized to a shorter side of size * 256 / 224, central [size, size, 3] (float)."""
  height, width = tf.unstack(tf.cast(tf.shape(image)[:2], tf.float32))
  short = tf.round(size * EVAL_RESIZE_RATIO)
  scale = short / tf.minimum(height, width)
  new_height = tf.cast(tf.maximum(tf.math.floor(height * scale), short), tf.int32)
  new_width = tf.cast(tf.maximum(tf.math.floor(width * scale), short), tf.int32)
  resized = tf.image.resize(image, [new_height, new_width], method="bilinear", antialias=True)
  top, left = (new_height - size) // 2, (new_width - size) // 2
  return resized[top:top + size, left:left + size, :]


def imagenet_train_batches(paths, labels, info, image_size, batch_size, *, seed, start_step=0):
  """Infinite, deterministic batches of randomly cropped and flipped images, one-hot labels.

  Args:
    paths: str [N] image files (JPEG, PNG, GIF, BMP; any size), e.g. `image_folder_examples`.
    labels: int [N] labels in [0, info.num_classes).
    info: the dataset's `DatasetInfo` (or name): mean, std, classes.
    image_size: side S of the batches' images (224 in DARTS' ImageNet recipe).
    batch_size: images per batch (the global batch under a distribution strategy), <= N.
    seed: int >= 0; fixes the shuffles, crops and flips.
    start_step: index of the first batch; a run resumed after k steps passes k.

  Returns:
    An infinite `tf.data.Dataset` of (float32 [B, S, S, 3], float32 one-hot [B, classes]).

  Raises:
    ValueError: if an argument is invalid, e.g. a batch larger than the files.

  Example:

  >>> paths, labels = image_folder_examples("/data/ILSVRC2012/train", 1000)  # doctest: +SKIP
  >>> batches = imagenet_train_batches(paths, labels, "imagenet-1k", 224, 768,
  ...                                  seed=0)  # doctest: +SKIP

  Reference: DARTS (Liu et al., ICLR 2019) appendix A.2.
  """
  info = datasets_lib.dataset_info(info)
  paths, labels = sources.check_files(paths, labels, info.num_classes, "train_batches")
  image_size = checks.integer("image_size", image_size, 1)
  count = len(paths)
  batch_size = training.check_batch_size(batch_size, count)
  seed = checks.integer("seed", seed, 0)
  start_step = checks.integer("start_step", start_step, 0)
  paths_t, labels_t = tf.constant(paths), tf.constant(labels)

  def examples_of_step(step, index):
    # One seed per image of the batch; the position in the batch tells them apart.
    seeds = tf.stack(_ops.stateless_seeds(seed, training.AUGMENT_STREAM, step, batch_size))
    return tf.data.Dataset.from_tensor_slices(
        (tf.gather(paths_t, index), tf.gather(labels_t, index), seeds))

  def augment(path, label, example_seed):
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(example_seed, 2))
    pixels = _random_resized_crop(_decode(path), image_size, crop_seed)
    flip = tf.random.stateless_uniform([], flip_seed) < 0.5
    pixels = tf.cond(flip, lambda: tf.reverse(pixels, axis=[1]), lambda: pixels)
    pixels.set_shape([image_size, image_size, 3])
    return _ops.normalize(pixels, info), tf.one_hot(label, info.num_classes)

  steps = _ops.step_batches(count, batch_size, seed, training.SHUFFLE_STREAM, start_step)
  examples = steps.flat_map(examples_of_step).map(
      augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return _ops.finish(examples.batch(batch_size, drop_remainder=True))


def imagenet_eval_batches(paths, labels, info, image_size, batch_size):
  """The held-out images in order, resized and centre-cropped, with one-hot labels.

  Args:
    paths: str [N] image files; labels: int [N]; info: `DatasetInfo` or name;
    image_size: side S; batch_size: images per batch (the last may be short).

  Returns:
    A finite `tf.data.Dataset` of (float32 [<=B, S, S, 3], float32 one-hot [<=B, classes]).

  Raises:
    ValueError: if the files, labels, `image_size` or `batch_size` are invalid.
  """
  info = datasets_lib.dataset_info(info)
  paths, labels = sources.check_files(paths, labels, info.num_classes, "eval_batches")
  image_size = checks.integer("image_size", image_size, 1)
  batch_size = checks.integer("batch_size", batch_size, 1)

  def load(path, label):
    pixels = _centre_crop(_decode(path), image_size)
    pixels.set_shape([image_size, image_size, 3])
    return _ops.normalize(pixels, info), tf.one_hot(label, info.num_classes)

  dataset = tf.data.Dataset.from_tensor_slices((paths, labels)).map(
      load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return _ops.finish(dataset.batch(batch_size))
