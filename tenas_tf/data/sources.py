"""In-memory sources: `.npz` files and seeded random images, unlabelled or labelled; their checks.

Every image source of this package yields raw images: shape [H, W, 3], dtype uint8, values
0..255, not normalised. The indicators are label-free (TE-NAS scores an architecture at
initialisation, without labels), so they read images only (`npz_images`, `synthetic_images`);
training reads the same files and generator with their labels (`npz_examples`,
`synthetic_examples`). Augmentation and normalisation belong to the pipelines
(`pipelines`, `training`), so that every source feeds every pipeline. TFDS, image folders and
TFRecord shards are read by `tfds_sources` and `imagenet`; `DataSource` picks one.
"""

import os
import zipfile
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tenas_tf import checks


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


def _open_npz(path):
  """`np.load` of an `.npz` archive, with a one-line error naming the file when it is not one."""
  what = (f"data_npz file {path!r} is not a NumPy .npz archive (write one with "
          f"numpy.savez(path, x=images[, y=labels]))")
  with open(path, "rb") as stream:
    head = stream.read(4)
  if not head:
    raise ValueError(f"{what}: it is empty")
  if head[:2] != b"PK":  # an .npz is a zip archive; numpy would try to unpickle anything else
    raise ValueError(f"{what}: it is not a zip archive (it starts with {head!r})")
  try:
    return np.load(path, allow_pickle=False)
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:  # e.g. truncated
    raise ValueError(f"{what}: {str(error).splitlines()[0]}") from None


def _array(archive, key, path):
  """One array of an open archive; object arrays (which need pickle) are refused by name."""
  try:
    return archive[key]
  except ValueError:
    raise ValueError(f"{key!r} in data_npz file {path!r} is an object array (it needs pickle, "
                     f"which is never loaded); save {key!r} as a plain numeric array") from None


def _read_npz(path, with_labels):
  """The validated `x` (and `y`) arrays of one `.npz` file; `y` is None without labels."""
  if not os.path.isfile(path):
    raise ValueError(f"data_npz file {path!r} does not exist")
  keys = ("x", "y") if with_labels else ("x",)
  with _open_npz(path) as archive:
    if any(key not in archive.files for key in keys):
      wanted = ("images under key 'x' and labels under key 'y'" if with_labels
                else "images under key 'x'")
      raise ValueError(f"data_npz file {path!r} must hold {wanted}; "
                       f"got keys {tuple(archive.files)}")
    x = _array(archive, "x", path)
    y = _array(archive, "y", path) if with_labels else None
  if x.dtype != np.uint8:
    raise ValueError(f"images 'x' in {path!r} must have dtype uint8 (values 0..255); "
                     f"got {x.dtype}")
  if x.ndim != 4 or x.shape[-1] != 3:
    raise ValueError(f"images 'x' in {path!r} must have shape [N, H, W, 3]; got {x.shape}")
  if x.shape[0] == 0:
    raise ValueError(f"images 'x' in {path!r} must hold at least one image; got shape "
                     f"{x.shape}")
  return x, y


def _read_npz_files(paths, with_labels):
  """(paths, [(x, y)] per file) of one or several `.npz` files whose image sizes agree."""
  paths = _as_path_list(paths)
  arrays = [_read_npz(path, with_labels) for path in paths]
  first = arrays[0][0].shape[1:]
  for path, (x, _) in zip(paths[1:], arrays[1:]):
    if x.shape[1:] != first:
      raise ValueError(f"images in {path!r} must have the size of those in {paths[0]!r}, "
                       f"{first}; got {x.shape[1:]}")
  return paths, arrays


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
  _, arrays = _read_npz_files(paths, with_labels=False)
  # The arrays are small (offline subsets); from_tensor_slices keeps them in memory.
  return tf.data.Dataset.from_tensor_slices(np.concatenate([x for x, _ in arrays], axis=0))


def npz_examples(paths, num_classes):
  """Images `x` (uint8 [N, H, W, 3]) and labels `y` of one or several `.npz` files.

  Args:
    paths: a path, a comma-separated string of paths or a list of paths; the files are
      concatenated in that order (e.g. `shared/data/cifar/cifar10_train_*.npz`).
    num_classes: labels must lie in [0, num_classes).

  Returns:
    (images uint8 [N, H, W, 3], labels int32 [N]).

  Raises:
    ValueError: as `npz_images`, or if a file lacks `y` or its labels are malformed.

  Example:

  >>> images, labels = npz_examples("cifar10_train_0000-0999.npz", 10)  # doctest: +SKIP
  """
  paths, arrays = _read_npz_files(paths, with_labels=True)
  examples = [check_examples(x, y, num_classes, repr(path)) for path, (x, y) in zip(paths, arrays)]
  return (np.concatenate([x for x, _ in examples]), np.concatenate([y for _, y in examples]))


def _synthetic_generator(count, image_size, seed):
  """(numpy Generator, its first draw: `count` uint8 images [S, S, 3])."""
  count = checks.integer("count", count, 1)
  image_size = checks.integer("image_size", image_size, 1)
  rng = np.random.default_rng(checks.integer("seed", seed, 0))
  return rng, rng.integers(0, 256, size=(count, image_size, image_size, 3), dtype=np.uint8)


def synthetic_images(count, image_size, seed):
  """Uniformly random uint8 images from a seeded numpy `Generator` (no download, offline).

  Args:
    count: number of images, >= 1.
    image_size: side S of the S x S x 3 images, >= 1.
    seed: int seed >= 0 of `numpy.random.default_rng`; the same seed gives the same images.

  Returns:
    A finite `tf.data.Dataset` of `count` uint8 images [S, S, 3].

  Raises:
    ValueError: if `count`, `image_size` or `seed` is not a valid int.

  Example:

  >>> images = synthetic_images(8, 32, seed=0)
  >>> images.element_spec.shape
  TensorShape([32, 32, 3])
  """
  _, x = _synthetic_generator(count, image_size, seed)
  return tf.data.Dataset.from_tensor_slices(x)


def synthetic_examples(count, image_size, num_classes, seed):
  """The images of `synthetic_images` with random labels (offline smoke runs; nothing to learn).

  Returns:
    (images uint8 [count, S, S, 3], labels int32 [count] uniform in [0, num_classes)); the
    images equal `synthetic_images(count, image_size, seed)`'s.

  Raises:
    ValueError: if an argument is not a valid int.
  """
  num_classes = checks.integer("num_classes", num_classes, 1)
  rng, x = _synthetic_generator(count, image_size, seed)
  return x, rng.integers(0, num_classes, size=len(x)).astype(np.int32)


def _check_labels(labels, count, num_classes, what, per):
  if labels.shape != (count,) or not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(f"labels of {what} must be {count} integers, one per {per}; "
                     f"got {labels.dtype} {labels.shape}")
  bad = (labels < 0) | (labels >= num_classes)
  return bad if np.any(bad) else None


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
  bad = _check_labels(labels, len(images), num_classes, what, "image")
  if bad is not None:
    raise ValueError(f"labels of {what} must lie in [0, {num_classes}); got "
                     f"{int(labels[bad][0])} at index {int(np.argmax(bad))}")
  return images, labels.astype(np.int32)


def check_files(paths, labels, num_classes, what):
  """Validates labelled image files; returns (str [N], int32 [N]) numpy arrays.

  Raises:
    ValueError: naming `what`, if there is no path, the labels are not one integer per path,
      or a label lies outside [0, num_classes).
  """
  paths, labels = np.asarray(paths), np.asarray(labels)
  if paths.ndim != 1 or not len(paths) or paths.dtype.kind not in "US":
    raise ValueError(f"image files of {what} must be a non-empty list of paths; "
                     f"got {paths.dtype} {paths.shape}")
  bad = _check_labels(labels, len(paths), num_classes, what, "file")
  if bad is not None:
    raise ValueError(f"labels of {what} must lie in [0, {num_classes}); got "
                     f"{int(labels[bad][0])} for {paths[bad][0]!r}")
  return paths.astype(str), labels.astype(np.int32)


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
