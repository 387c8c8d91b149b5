"""Image sources: finite `tf.data.Dataset`s of raw uint8 images for the indicator pipelines.

TE-NAS is label-free (TENAS_SPEC.md section 6): every source yields images only, shape
[H, W, 3], dtype uint8, values 0..255, not normalised. Augmentation and normalisation belong to
`tenas_tf.data.pipelines`, so that every source feeds the same pipelines.

Sources: TensorFlow Datasets (the real training sets, downloaded on first use), local `.npz`
files (offline runs, tests) and seeded random images (smoke runs).
"""

import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tenas_tf.data import datasets as datasets_lib


def _check_int(name, value, minimum):
  if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
    raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")


def tfds_images(name, data_dir=None, split="train", download=True):
  """The images of a dataset from TensorFlow Datasets, labels dropped.

  Examples whose label is >= `num_classes` are dropped: this turns `imagenet_resized/16x16`
  (1000 classes) into ImageNet16-120 (the first 120), and is a no-op for CIFAR.

  Args:
    name: a dataset name of `DATASETS` (or a `DatasetInfo`) that has a `tfds_name`.
    data_dir: TFDS data directory; None means TFDS's default (`~/tensorflow_datasets`).
    split: the TFDS split; the indicators use training images.
    download: whether TFDS may download and prepare the dataset if it is not in `data_dir`.

  Returns:
    A finite `tf.data.Dataset` of uint8 images [S, S, 3].

  Raises:
    ValueError: if the dataset is unknown or has no TFDS counterpart (e.g. "synthetic").

  Example:

  >>> images = tfds_images("cifar10", data_dir="/data/tfds")  # doctest: +SKIP

  Reference: TENAS_SPEC.md section 6.
  """
  info = datasets_lib.dataset_info(name)
  if info.tfds_name is None:
    with_tfds = tuple(n for n, i in datasets_lib.DATASETS.items() if i.tfds_name)
    raise ValueError(f"dataset must be one of {with_tfds} to load it from TFDS; "
                     f"got {info.name!r}")
  # Imported here: tensorflow_datasets takes seconds to import and only this source needs it.
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  supervised = tfds.load(info.tfds_name, split=split, data_dir=data_dir, download=download,
                         as_supervised=True)
  num_classes = tf.constant(info.num_classes, tf.int64)
  kept = supervised.filter(lambda image, label: tf.cast(label, tf.int64) < num_classes)
  return kept.map(lambda image, label: image, num_parallel_calls=tf.data.AUTOTUNE,
                  deterministic=True)


def _load_npz_images(path):
  """Reads and validates the `x` array of one `.npz` file."""
  if not os.path.isfile(path):
    raise ValueError(f"data_npz file {path!r} does not exist")
  with np.load(path, allow_pickle=False) as archive:
    if "x" not in archive.files:
      raise ValueError(f"data_npz file {path!r} must hold images under key 'x'; "
                       f"got keys {tuple(archive.files)}")
    x = archive["x"]
  if x.dtype != np.uint8:
    raise ValueError(f"images 'x' in {path!r} must have dtype uint8 (values 0..255); "
                     f"got {x.dtype}")
  if x.ndim != 4 or x.shape[-1] != 3:
    raise ValueError(f"images 'x' in {path!r} must have shape [N, H, W, 3]; got {x.shape}")
  if x.shape[0] == 0:
    raise ValueError(f"images 'x' in {path!r} must hold at least one image; got shape "
                     f"{x.shape}")
  return x


def _as_path_list(paths):
  """Normalises a path, a comma-separated string of paths or a sequence of paths to a list."""
  if isinstance(paths, (str, os.PathLike)):
    path_list = [p.strip() for p in os.fspath(paths).split(",") if p.strip()]
  elif isinstance(paths, Sequence) and all(isinstance(p, (str, os.PathLike)) for p in paths):
    path_list = [os.fspath(p) for p in paths]
  else:
    raise ValueError(f"data_npz must be a path, a comma-separated string of paths or a list "
                     f"of paths; got {paths!r}")
  if not path_list:
    raise ValueError(f"data_npz must name at least one .npz file; got {paths!r}")
  return path_list


def npz_images(paths):
  """The images of one or several `.npz` files, concatenated in the order given.

  Each file holds its images under the key `x`, uint8 [N, H, W, 3], RGB, 0..255 (other keys,
  e.g. labels, are ignored), like the CIFAR subsets in `shared/data/cifar`. Files load without
  pickle.

  Args:
    paths: a path, a comma-separated string of paths ("a.npz,b.npz") or a list of paths.

  Returns:
    A finite `tf.data.Dataset` of uint8 images [H, W, 3].

  Raises:
    ValueError: if a file is missing, has no `x`, `x` is not uint8, not [N, H, W, 3] or
      empty, or the files' image sizes differ.

  Example:

  >>> images = npz_images("cifar10_train_0000-0999.npz,cifar10_train_1000-1999.npz")
  ... # doctest: +SKIP
  """
  paths = _as_path_list(paths)
  arrays = [_load_npz_images(path) for path in paths]
  for path, x in zip(paths[1:], arrays[1:]):
    if x.shape[1:] != arrays[0].shape[1:]:
      raise ValueError(f"images in {path!r} must have the size of those in {paths[0]!r}, "
                       f"{arrays[0].shape[1:]}; got {x.shape[1:]}")
  # The arrays are small (offline subsets); from_tensor_slices keeps them in memory.
  return tf.data.Dataset.from_tensor_slices(np.concatenate(arrays, axis=0))


def synthetic_images(count, image_size, seed):
  """Uniformly random uint8 images from a seeded numpy `Generator` (no download, offline).

  Args:
    count: number of images, >= 1.
    image_size: side S of the S x S x 3 images, >= 1.
    seed: int seed of `numpy.random.default_rng`; the same seed gives the same images.

  Returns:
    A finite `tf.data.Dataset` of `count` uint8 images [S, S, 3].

  Raises:
    ValueError: if `count`, `image_size` or `seed` is not a valid int.

  Example:

  >>> images = synthetic_images(8, 32, seed=0)
  >>> images.element_spec.shape
  TensorShape([32, 32, 3])
  """
  _check_int("count", count, 1)
  _check_int("image_size", image_size, 1)
  _check_int("seed", seed, 0)
  rng = np.random.default_rng(seed)
  x = rng.integers(0, 256, size=(count, image_size, image_size, 3), dtype=np.uint8)
  return tf.data.Dataset.from_tensor_slices(x)


def check_image_spec(images, image_size, what):
  """Checks that `images` yields uint8 [image_size, image_size, 3] tensors (where known).

  Shared by the sources and the pipelines so that a wrong input fails where it is given,
  not deep inside a traced `map`.

  Args:
    images: a `tf.data.Dataset`.
    image_size: the side S expected, or None for any [H, W, 3].
    what: how to call the images in the error message, e.g. "images of dataset 'cifar10'".

  Raises:
    ValueError: if the elements are not single uint8 tensors of shape [S, S, 3]; dimensions
      unknown until run time are not checked here.
  """
  spec = getattr(images, "element_spec", None)
  if not isinstance(spec, tf.TensorSpec) or spec.dtype != tf.uint8:
    raise ValueError(f"{what} must be a tf.data.Dataset of uint8 images [H, W, 3] "
                     f"(no labels); got element_spec {spec!r}")
  expected = tf.TensorShape([image_size, image_size, 3])
  if not spec.shape.is_compatible_with(expected):
    raise ValueError(f"{what} must have shape {tuple(expected)}; "
                     f"got {tuple(spec.shape)}")


def load_images(dataset, *, data_dir=None, data_npz=None, synthetic_count=512, seed=0):
  """The images of `dataset` from the source its arguments select.

  The source is, in order of precedence: `data_npz` if given; random images if `dataset` is
  "synthetic"; otherwise TensorFlow Datasets (training split, downloaded if needed).

  Args:
    dataset: a name of `DATASETS` (or a `DatasetInfo`); it fixes the expected image size.
    data_dir: TFDS data directory (TFDS source only).
    data_npz: `.npz` files to read instead of TFDS: a path, "a.npz,b.npz" or a list.
    synthetic_count: number of random images (synthetic source only).
    seed: seed of the random images (synthetic source only).

  Returns:
    A finite `tf.data.Dataset` of uint8 images [S, S, 3], S = the dataset's `image_size`.

  Raises:
    ValueError: if the dataset is unknown, a source argument is invalid, or the images are not
      S x S x 3 uint8.

  Example:

  >>> images = load_images("synthetic", synthetic_count=16)
  >>> images.element_spec.shape
  TensorShape([32, 32, 3])
  """
  info = datasets_lib.dataset_info(dataset)
  if data_npz is not None:
    images, source = npz_images(data_npz), f"data_npz {data_npz!r}"
  elif info.name == "synthetic":
    images = synthetic_images(synthetic_count, info.image_size, seed)
    source = "synthetic images"
  else:
    images = tfds_images(info, data_dir=data_dir)
    source = f"TFDS {info.tfds_name!r}"
  check_image_spec(images, info.image_size, f"images of dataset {info.name!r} ({source})")
  return images
