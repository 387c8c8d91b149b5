"""Image sources: finite `tf.data.Dataset`s of raw uint8 images for the indicator pipelines.

TE-NAS is label-free (TENAS_SPEC.md section 6): every source yields images only, shape
[H, W, 3], dtype uint8, values 0..255, not normalised. Augmentation and normalisation belong to
`tenas_tf.data.pipelines`, so that every source feeds the same pipelines.

Sources: TensorFlow Datasets (the real training sets, downloaded on first use; ImageNet-1k
prepared from the user's ILSVRC2012 tar files), folders of images and TFRecord shards
(`tenas_tf.data.imagenet`), local `.npz` files (offline runs, tests) and seeded random images
(smoke runs). `load_images` picks one from its arguments.
"""

import os
import types
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tenas_tf.data import caching
from tenas_tf.data import datasets as datasets_lib
from tenas_tf.data import imagenet

# NB201's ImageNet16-120 (AutoDL `get_datasets` asserts them): images with label < 120.
IMAGENET16_120_SIZES = types.MappingProxyType({"train": 151_700, "validation": 6_000})
# All of ILSVRC2012 (and of `imagenet_resized`): a split of this size was loaded completely.
_IMAGENET_SPLIT_SIZES = types.MappingProxyType({"train": 1_281_167, "validation": 50_000})


def _check_int(name, value, minimum):
  if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
    raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")


def check_imagenet16_120_count(dataset_or_count, split):
  """Checks an ImageNet16-120 split against its published size (151,700 train, 6,000 val).

  ImageNet16-120 is defined by its label order: the first 120 classes of down-sampled ImageNet.
  A count that differs means another label order or an incomplete dataset, i.e. not the images
  NB201's accuracies were measured on.

  Args:
    dataset_or_count: the number of images, or a finite `tf.data.Dataset` of them (counting
      it iterates the split once: about 1.3M records for TFDS's `imagenet_resized/16x16`).
    split: "train" or "validation", the full split the images come from.

  Returns:
    The number of images.

  Raises:
    ValueError: if `split` is not "train" or "validation", or the count differs from the
      published size (both numbers are named).

  Example:

  >>> check_imagenet16_120_count(151_700, "train")
  151700

  Reference: NB201 (Dong & Yang, ICLR 2020) section 2.2; TENAS_SPEC.md section 6.
  """
  if split not in IMAGENET16_120_SIZES:
    raise ValueError(f"split must be one of {tuple(IMAGENET16_120_SIZES)} to check the size "
                     f"of ImageNet16-120; got {split!r}")
  if isinstance(dataset_or_count, tf.data.Dataset):
    count = caching.count_elements(dataset_or_count)
  else:
    count = int(dataset_or_count)
  expected = IMAGENET16_120_SIZES[split]
  if count != expected:
    raise ValueError(f"ImageNet16-120 {split!r} split must hold {expected} images (NB201); "
                     f"got {count}: the TFDS dataset is incomplete or its labels are not in "
                     f"down-sampled ImageNet's order")
  return count


def _tfds_loader(info, data_dir, download, manual_dir):
  """(tfds module, load(split, decoders) -> supervised dataset) for one TFDS dataset."""
  # Imported here: tensorflow_datasets takes seconds to import and only this source needs it.
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  prepare = {}
  if manual_dir is not None:
    if not os.path.isdir(os.fspath(manual_dir)):
      raise ValueError(f"manual_dir {os.fspath(manual_dir)!r} does not exist or is not a "
                       f"directory")
    prepare["download_config"] = tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir))

  def load(split, decoders=None):
    return tfds.load(info.tfds_name, split=split, data_dir=data_dir, download=download,
                     as_supervised=True, decoders=decoders,
                     download_and_prepare_kwargs=prepare or None)

  return tfds, load


def tfds_images(name, data_dir=None, split="train", download=True, *, manual_dir=None,
                max_images=None, cache_dir=None, check_count=True):
  """The images of a dataset from TensorFlow Datasets, labels dropped.

  Examples whose label is >= `num_classes` are dropped: this turns `imagenet_resized/16x16`
  (1000 classes) into ImageNet16-120 (the first 120), and is a no-op for CIFAR. Datasets with
  `resize` (ImageNet-1k, TFDS `imagenet2012`) are decoded and resized to S x S here, one image
  at a time before any batching (`imagenet.decode_and_resize`). The images are cached
  (`caching.cache_images`): in memory, or in `cache_dir`.

  TFDS prepares `imagenet2012` from the ILSVRC2012 tar files, which it cannot download:
  `manual_dir` must hold `ILSVRC2012_img_train.tar` AND `ILSVRC2012_img_val.tar` (TFDS reads
  the validation file names even to prepare the train split). Preparing writes about 150 GB
  into `data_dir` once; it needs the `importlib_resources` package.

  Args:
    name: a dataset name of `DATASETS` (or a `DatasetInfo`) that has a `tfds_name`.
    data_dir: TFDS data directory; None means TFDS's default (`~/tensorflow_datasets`).
    split: the TFDS split; the indicators use training images.
    download: whether TFDS may download and prepare the dataset if it is not in `data_dir`.
    manual_dir: directory of manually downloaded files (ILSVRC2012 tars); None means TFDS's
      default, `<data_dir>/downloads/manual`.
    max_images: keep only the first N images (after the label filter); None keeps all.
    cache_dir: None caches in memory; a directory caches the decoded images in files there.
      With `cache_dir` or `max_images` the images are decoded now, in one pass.
    check_count: for ImageNet16-120 loaded whole ("train" or "validation" of all 1,281,167 /
      50,000 records, no `max_images`), check its size with `check_imagenet16_120_count`;
      this reads the split's labels once (seconds to a minute).

  Returns:
    A finite `tf.data.Dataset` of uint8 images [S, S, 3].

  Raises:
    ValueError: if the dataset is unknown or has no TFDS counterpart (e.g. "synthetic"),
      `manual_dir` is not a directory, or ImageNet16-120's size is wrong.

  Example:

  >>> images = tfds_images("cifar10", data_dir="/data/tfds")  # doctest: +SKIP
  >>> images = tfds_images("imagenet-1k", data_dir="/data/tfds", manual_dir="/data/ilsvrc",
  ...                      max_images=20_000)  # doctest: +SKIP

  Reference: TENAS_SPEC.md section 6.
  """
  info = datasets_lib.dataset_info(name)
  if info.tfds_name is None:
    with_tfds = tuple(n for n, i in datasets_lib.DATASETS.items() if i.tfds_name)
    raise ValueError(f"dataset must be one of {with_tfds} to load it from TFDS; "
                     f"got {info.name!r}")
  max_images = caching.check_max_images(max_images)
  tfds, load = _tfds_loader(info, data_dir, download, manual_dir)
  num_classes = tf.constant(info.num_classes, tf.int64)
  below = lambda image, label: tf.cast(label, tf.int64) < num_classes

  # `resize` datasets are read encoded (SkipDecoding) and decoded by this package's decoder.
  decoders = {"image": tfds.decode.SkipDecoding()} if info.resize else None
  supervised = load(split, decoders)
  complete = (max_images is None and split in _IMAGENET_SPLIT_SIZES
              and int(supervised.cardinality()) == _IMAGENET_SPLIT_SIZES[split])
  if check_count and info.name == "imagenet16-120" and complete:
    # Labels only, in batches: the images are left encoded, so counting decodes none.
    encoded = load(split, {"image": tfds.decode.SkipDecoding()}).batch(4096)
    count = encoded.reduce(tf.constant(0, tf.int64), lambda n, batch: n + tf.reduce_sum(
        tf.cast(tf.cast(batch[1], tf.int64) < num_classes, tf.int64)))
    check_imagenet16_120_count(int(count), split)

  kept = supervised.filter(below)
  if info.resize:
    size = info.image_size
    images = kept.map(lambda image, label: imagenet.decode_and_resize(image, size),
                      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  else:
    images = kept.map(lambda image, label: image, num_parallel_calls=tf.data.AUTOTUNE,
                      deterministic=True)
  fingerprint = (f"tfds {info.tfds_name} {info.image_size} {info.resize} {split} "
                 f"{os.path.abspath(os.path.expanduser(data_dir)) if data_dir else ''}")
  return caching.cache_images(
      images, name=f"{info.name}_tfds_{info.image_size}px", fingerprint=fingerprint,
      cache_dir=cache_dir, max_images=max_images)


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


def load_images(dataset, *, data_dir=None, data_npz=None, synthetic_count=512, seed=0,
                manual_dir=None, image_dir=None, tfrecords=None, cache_dir=None,
                max_images=None):
  """The images of `dataset` from the source its arguments select.

  The source is: `data_npz`, `image_dir` or `tfrecords` if one is given (at most one may be);
  else random images if `dataset` is "synthetic"; else TensorFlow Datasets (training split,
  downloaded or, for ImageNet-1k, prepared from `manual_dir` if needed). The file sources
  (`image_dir`, `tfrecords`, TFDS) decode each image before any batching, resized to S x S
  where needed, and cache it: in memory, or in `cache_dir` for later runs. A cache is complete
  once a pass over the source is (see `tenas_tf.data.caching`): `max_images` or `cache_dir`
  make that pass now, so that no batch decodes an image again.

  Args:
    dataset: a name of `DATASETS` (or a `DatasetInfo`); it fixes the expected image size.
    data_dir: TFDS data directory (TFDS source only).
    data_npz: `.npz` files to read instead of TFDS: a path, "a.npz,b.npz" or a list.
    synthetic_count: number of random images (synthetic source only).
    seed: seed of the random images (synthetic source) and of the file order of `image_dir`.
    manual_dir: TFDS manual directory holding `ILSVRC2012_img_train.tar` and
      `ILSVRC2012_img_val.tar`, to prepare ImageNet-1k (TFDS source only).
    image_dir: a folder of class sub-folders of JPEG / PNG files (ILSVRC2012 `train/`), read
      in a permutation of `seed` and resized to S x S.
    tfrecords: TFRecord shards of `tf.train.Example`s with `image/encoded`: a path or glob
      pattern, a comma-separated string of them or a list; images resized to S x S.
    cache_dir: directory for the decoded images of a file source (None: in memory); later runs
      with the same files and options read them back instead of decoding.
    max_images: use only the first N images of the source (None: all). With `cache_dir` or
      `max_images`, a file source is decoded in full now, once (ImageNet JPEGs: ~4 ms per image
      and core, so 20,000 images in about a minute).

  Returns:
    A finite `tf.data.Dataset` of uint8 images [S, S, 3], S = the dataset's `image_size`.

  Raises:
    ValueError: if the dataset is unknown, more than one of `data_npz`, `image_dir`,
      `tfrecords` is given, a source argument is invalid, or the images are not S x S x 3 uint8.

  Example:

  >>> images = load_images("synthetic", synthetic_count=16)
  >>> images.element_spec.shape
  TensorShape([32, 32, 3])
  >>> images = load_images("imagenet-1k", image_dir="/data/ILSVRC2012/train",
  ...                      max_images=20_000, cache_dir="/data/cache")  # doctest: +SKIP
  """
  info = datasets_lib.dataset_info(dataset)
  given = tuple(name for name, value in (("data_npz", data_npz), ("image_dir", image_dir),
                                         ("tfrecords", tfrecords)) if value is not None)
  if len(given) > 1:
    raise ValueError(f"give at most one of data_npz, image_dir, tfrecords; got {given}")
  file_options = dict(max_images=max_images, cache_dir=cache_dir)
  size = info.image_size
  if data_npz is not None:
    images, source = npz_images(data_npz), f"data_npz {data_npz!r}"
    if max_images is not None:
      images = images.take(caching.check_max_images(max_images))
  elif image_dir is not None:
    images = imagenet.image_folder_images(image_dir, size, shuffle_seed=seed, **file_options)
    source = f"image_dir {os.fspath(image_dir)!r}"
  elif tfrecords is not None:
    images = imagenet.tfrecord_images(tfrecords, size, **file_options)
    source = f"tfrecords {tfrecords!r}"
  elif info.name == "synthetic":
    images = synthetic_images(synthetic_count, size, seed)
    source = "synthetic images"
    if max_images is not None:
      images = images.take(caching.check_max_images(max_images))
  else:
    images = tfds_images(info, data_dir=data_dir, manual_dir=manual_dir, **file_options)
    source = f"TFDS {info.tfds_name!r}"
  check_image_spec(images, size, f"images of dataset {info.name!r} ({source})")
  return images
