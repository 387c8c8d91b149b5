"""ImageNet-style file sources: folders of images and TFRecord shards, decoded and resized once.

TE-NAS scores ImageNet-1k architectures on whole training images resized to 32x32
(the authors' code: `ImageFolder(root/train)` with `Resize((32, 32))`).
These sources read encoded images (JPEG or PNG), decode each one, resize it to uint8 [S, S, 3]
and cache the small result (`tenas_tf.data.caching`, which says when the cache is complete), so
that the NTK batches and the 3x3 linear-region crops read 32x32 images rather than decode
full-size JPEGs again and again (the README's "ImageNet data"). Their output feeds
`ntk_batches` / `linear_region_batches` like any other source. TFDS's `imagenet2012` is read by
`tfds_images`, with the same decoder. For training, `image_folder_examples` lists the labelled
files of a folder, which `imagenet_training` decodes batch by batch.
"""

import os

import numpy as np
import tensorflow as tf

from tenas_tf import checks
from tenas_tf.data import caching
from tenas_tf.data import sources

# Image files of a class folder, compared lower-case: .jpg, .jpeg, .JPEG, .png, ...
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
# The feature names of the common ImageNet TFRecord converters (TF models' / TPU
# `imagenet_to_gcs.py`, `build_imagenet_data.py`).
ENCODED_FEATURE = "image/encoded"
LABEL_FEATURE = "image/class/label"


def decode_and_resize(encoded, image_size):
  """Decodes one encoded image and resizes it, whole, to S x S; uint8 [S, S, 3].

  JPEG, PNG, GIF (first frame) and BMP are recognised by their content; grey images get three
  equal channels. The resize is bilinear WITH antialiasing, as PIL's `BILINEAR` resize behind
  torchvision's `Resize((32, 32))` in the reference (within 1 grey level on real ImageNet
  images; plain bilinear without antialiasing differs by up to ~150 levels when downscaling
  512 -> 32). Values are rounded to the nearest integer and clipped to 0..255. An image already
  S x S is returned unchanged.

  Args:
    encoded: scalar string tensor, the file's bytes.
    image_size: side S of the output.

  Returns:
    uint8 tensor [S, S, 3].

  Example:

  >>> image = decode_and_resize(tf.io.read_file("n01440764_10026.JPEG"), 32)  # doctest: +SKIP
  >>> image.shape, image.dtype  # doctest: +SKIP
  (TensorShape([32, 32, 3]), tf.uint8)

  Reference: the README's "ImageNet data" (agreement with PIL measured on ILSVRC2012 images).
  """
  image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
  resized = tf.image.resize(image, [image_size, image_size], method="bilinear", antialias=True)
  return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


def _decode_map(dataset, image_size, with_labels):
  """(encoded, label) pairs -> decoded images, or (image, label) pairs, in order."""
  if with_labels:
    fn = lambda encoded, label: (decode_and_resize(encoded, image_size), label)
  else:
    fn = lambda encoded, label: decode_and_resize(encoded, image_size)
  return dataset.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def image_folder_classes(root):
  """The class names of an image folder: its sub-folders, sorted (label i = i-th name).

  Args:
    root: a directory with one sub-folder per class, e.g. ILSVRC2012's `train/`.

  Returns:
    A tuple of the sub-folder names, sorted as Python strings (torchvision's `ImageFolder`).

  Raises:
    ValueError: if `root` is not a directory or holds no sub-folder.
  """
  if not isinstance(root, (str, os.PathLike)):
    raise ValueError(f"image_dir must be a path; got {root!r}")
  root = os.fspath(root)
  if not os.path.isdir(root):
    raise ValueError(f"image_dir {root!r} does not exist or is not a directory")
  classes = tuple(sorted(entry.name for entry in os.scandir(root) if entry.is_dir()))
  if not classes:
    raise ValueError(f"image_dir {root!r} must hold one sub-folder of images per class; "
                     f"got no sub-folder")
  return classes


def _class_files(folder):
  """Image files under `folder` (recursively), in torchvision's `ImageFolder` order."""
  files = []
  for directory, _, names in sorted(os.walk(folder, followlinks=True)):
    files.extend(os.path.join(directory, name) for name in sorted(names)
                 if name.lower().endswith(IMAGE_EXTENSIONS))
  return files


def image_folder_files(root):
  """The image files of `root/<class>/...` with their labels: (paths, int64 labels, classes).

  Labels index the sorted class names (`image_folder_classes`); files are in torchvision's
  `ImageFolder` order. Raises ValueError if `root` holds no class folder or a class no image.
  """
  classes = image_folder_classes(root)
  paths, labels = [], []
  for label, name in enumerate(classes):
    folder = os.path.join(os.fspath(root), name)
    files = _class_files(folder)
    if not files:
      raise ValueError(f"class folder {folder!r} of image_dir holds no image file "
                       f"({', '.join(IMAGE_EXTENSIONS)}, any case)")
    paths.extend(files)
    labels.extend([label] * len(files))
  return paths, np.array(labels, np.int64), classes


def image_folder_images(root, image_size=32, *, shuffle_seed=None, max_images=None,
                        cache_dir=None, with_labels=False):
  """The images of `root/<class>/*.jpg|*.jpeg|*.png`, decoded and resized once, cached.

  Args:
    root: a directory with one sub-folder per class (ILSVRC2012 `train/`); labels are the
      indices of the sorted class names (`image_folder_classes`).
    image_size: side S of the output images (32 for ImageNet-1k).
    shuffle_seed: None reads the files in sorted order (class by class); an int reads them in a
      permutation drawn from `numpy.random.default_rng(shuffle_seed)`. Shuffle the files of a
      large folder: the pipelines' shuffle buffer (10k images) would otherwise hold only the
      first few classes.
    max_images: keep only the first N images (after the shuffle); None keeps all.
    cache_dir: None caches the decoded images in memory; a directory caches them in files
      there, which later runs with the same files and options read instead of decoding.
    with_labels: yield (image, int64 label) pairs instead of images.

  Returns:
    A finite `tf.data.Dataset` of uint8 images [S, S, 3] (or (image, label) pairs). With
    `cache_dir` or `max_images`, the images are decoded now, in one pass
    (`caching.cache_images`); otherwise as they are first read.

  Raises:
    ValueError: if `root` is missing or holds no class folder, a class folder holds no image,
      or an argument is invalid.

  Example:

  >>> images = image_folder_images("/data/ILSVRC2012/train", shuffle_seed=0,
  ...                              max_images=20_000, cache_dir="/data/cache")  # doctest: +SKIP

  Reference: the TE-NAS authors' code (`ImageFolder(root/train)`, `Resize((32, 32))`).
  """
  image_size = checks.integer("image_size", image_size, 1)
  max_images = checks.optional_integer("max_images", max_images, 1)
  paths, labels, classes = image_folder_files(root)
  if shuffle_seed is not None:
    order = np.random.default_rng(shuffle_seed).permutation(len(paths))
    paths, labels = [paths[i] for i in order], labels[order]
  if max_images is not None:
    paths, labels = paths[:max_images], labels[:max_images]
  files = tf.data.Dataset.from_tensor_slices((paths, labels))
  encoded = files.map(lambda path, label: (tf.io.read_file(path), label),
                      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  fingerprint = "\n".join([f"image_dir {image_size} {with_labels}", *classes, *paths])
  return caching.cache_images(
      _decode_map(encoded, image_size, with_labels), name=f"image_dir_{image_size}px",
      fingerprint=fingerprint, cache_dir=cache_dir, max_images=max_images)


def image_folder_examples(root, num_classes, *, classes=None):
  """The labelled image files of `root/<class>/*.jpg|*.jpeg|*.png` (ILSVRC2012 train/ or val/).

  Args:
    root: a folder with one sub-folder of images per class.
    num_classes: labels must lie in [0, num_classes).
    classes: the class names the labels must index (a training folder's, when `root` holds
      held-out images); None takes `root`'s own sorted sub-folders.

  Returns:
    (paths str [N], labels int32 [N]) in torchvision's `ImageFolder` order; labels index the
    sorted class names.

  Raises:
    ValueError: if `root` is not a folder of class folders with images, has more classes than
      `num_classes`, or other classes than `classes`.

  Example:

  >>> paths, labels = image_folder_examples("/data/ILSVRC2012/train", 1000)  # doctest: +SKIP
  """
  paths, labels, found = image_folder_files(root)
  if classes is not None and tuple(found) != tuple(classes):
    missing = sorted(set(classes) - set(found))[:3]
    extra = sorted(set(found) - set(classes))[:3]
    raise ValueError(f"image folder {root!r} must hold the {len(classes)} classes of the "
                     f"training folder, so that labels agree; got {len(found)} (missing e.g. "
                     f"{missing}, extra e.g. {extra})")
  return sources.check_files(paths, labels, num_classes, f"image folder {root!r}")


def tfrecord_files(paths):
  """The files that TFRecord paths or glob patterns name, in order (each pattern sorted).

  Args:
    paths: a path or glob pattern ("train-*"), a comma-separated string of them, or a list.

  Returns:
    A list of file paths.

  Raises:
    ValueError: if `paths` is empty or malformed, or a path or pattern matches no file (named).
  """
  if isinstance(paths, (str, os.PathLike)):
    patterns = [p.strip() for p in os.fspath(paths).split(",") if p.strip()]
  elif isinstance(paths, (list, tuple)) and all(isinstance(p, (str, os.PathLike))
                                                for p in paths):
    patterns = [os.fspath(p) for p in paths]
  else:
    raise ValueError(f"tfrecords must be a path or glob pattern, a comma-separated string of "
                     f"them or a list; got {paths!r}")
  if not patterns:
    raise ValueError(f"tfrecords must name at least one file; got {paths!r}")
  files = []
  for pattern in patterns:
    matched = sorted(tf.io.gfile.glob(pattern))
    if not matched:
      raise ValueError(f"tfrecords pattern {pattern!r} matches no file")
    files.extend(matched)
  return files


def tfrecord_images(paths, image_size=32, *, max_images=None, cache_dir=None, with_labels=False):
  """The images of TFRecord shards of `tf.train.Example`s, decoded and resized once, cached.

  Each example holds the encoded image (JPEG or PNG bytes) under `image/encoded`, as written by
  the common ImageNet TFRecord converters; `image/class/label` (int64) is read only with
  `with_labels`, unchanged (those converters write 1..1000, 0 being "background"), and is -1
  where absent. Shards are read one after the other, in the order given (those converters
  shuffle the training images before writing them).

  Args:
    paths: a path or glob pattern ("/data/imagenet/train-*"), a comma-separated string of
      them, or a list (see `tfrecord_files`).
    image_size: side S of the output images (32 for ImageNet-1k).
    max_images: keep only the first N images; None keeps all.
    cache_dir: None caches the decoded images in memory; a directory caches them in files
      there, which later runs with the same shards and options read instead of decoding.
    with_labels: yield (image, int64 label) pairs instead of images.

  Returns:
    A finite `tf.data.Dataset` of uint8 images [S, S, 3] (or (image, label) pairs). With
    `cache_dir` or `max_images`, the images are decoded now, in one pass.

  Raises:
    ValueError: if no file matches a path or pattern, or an argument is invalid.

  Example:

  >>> images = tfrecord_images("/data/imagenet/train-*", max_images=20_000)  # doctest: +SKIP
  """
  image_size = checks.integer("image_size", image_size, 1)
  files = tfrecord_files(paths)
  features = {ENCODED_FEATURE: tf.io.FixedLenFeature([], tf.string),
              LABEL_FEATURE: tf.io.FixedLenFeature([], tf.int64, default_value=-1)}
  if not with_labels:
    features.pop(LABEL_FEATURE)

  def parse(record):
    example = tf.io.parse_single_example(record, features)
    return example[ENCODED_FEATURE], example.get(LABEL_FEATURE, tf.constant(-1, tf.int64))

  encoded = tf.data.TFRecordDataset(files).map(parse, num_parallel_calls=tf.data.AUTOTUNE,
                                               deterministic=True)
  sizes = [f"{path} {tf.io.gfile.stat(path).length}" for path in files]
  fingerprint = "\n".join([f"tfrecords {image_size} {with_labels}", *sizes])
  return caching.cache_images(
      _decode_map(encoded, image_size, with_labels), name=f"tfrecords_{image_size}px",
      fingerprint=fingerprint, cache_dir=cache_dir, max_images=max_images)
