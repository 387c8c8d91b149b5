"""TensorFlow Datasets: the real image sets, unlabelled (indicators) or labelled (training).

TFDS downloads CIFAR-10/100 and down-sampled ImageNet (`imagenet_resized/16x16`, of which
ImageNet16-120 keeps the first 120 classes) on first use, and prepares ImageNet-1k
(`imagenet2012`) from the user's ILSVRC2012 tar files. `tfds_images` streams a split's images,
decoded (and for ImageNet-1k resized) once and cached, for the indicator pipelines;
`tfds_examples` holds a split's images and labels in memory for training. Both read the split
through one loader and drop the same labels (>= `num_classes`).
"""

import os
import types

import numpy as np
import tensorflow as tf

from tenas_tf import checks
from tenas_tf.data import caching
from tenas_tf.data import datasets as datasets_lib
from tenas_tf.data import imagenet
from tenas_tf.data import sources

# NB201's ImageNet16-120 (AutoDL `get_datasets` asserts them): images with label < 120.
IMAGENET16_120_SIZES = types.MappingProxyType({"train": 151_700, "validation": 6_000})
# All of ILSVRC2012 (and of `imagenet_resized`): a split of this size was loaded completely.
_IMAGENET_SPLIT_SIZES = types.MappingProxyType({"train": 1_281_167, "validation": 50_000})
# TFDS split holding the held-out images, per dataset that trains from TFDS.
_EVAL_SPLITS = types.MappingProxyType(
    {"cifar10": "test", "cifar100": "test", "imagenet16-120": "validation"})


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

  Reference: NAS-Bench-201 (Dong & Yang, ICLR 2020) section 2.2.
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

  Reference: NAS-Bench-201 (Dong & Yang, ICLR 2020) section 2.2 (the datasets); the README's
  "ImageNet data".
  """
  info = datasets_lib.dataset_info(name)
  if info.tfds_name is None:
    with_tfds = tuple(n for n, i in datasets_lib.DATASETS.items() if i.tfds_name)
    raise ValueError(f"dataset must be one of {with_tfds} to load it from TFDS; "
                     f"got {info.name!r}")
  max_images = checks.optional_integer("max_images", max_images, 1)
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



def eval_split(dataset):
  """The TFDS split of held-out images: "test" for CIFAR, "validation" for ImageNet16-120.

  Raises:
    ValueError: for a dataset that does not train from TFDS (synthetic, ImageNet-1k).
  """
  info = datasets_lib.dataset_info(dataset)
  if info.name not in _EVAL_SPLITS:
    raise ValueError(f"dataset must be one of {tuple(_EVAL_SPLITS)}; got {info.name!r}")
  return _EVAL_SPLITS[info.name]


def tfds_examples(dataset, split, data_dir=None, download=True):
  """Images and labels of a TensorFlow Datasets split, in memory.

  Examples with a label >= `num_classes` are dropped (ImageNet16-120: the first 120 classes of
  `imagenet_resized/16x16`), as in `tfds_images`.

  Args:
    dataset: "cifar10", "cifar100" or "imagenet16-120" (or its `DatasetInfo`).
    split: "train", or `eval_split(dataset)` for the held-out images.
    data_dir: TFDS data directory (None: TFDS's default).
    download: whether TFDS may download and prepare the dataset.

  Returns:
    (images uint8 [N, S, S, 3], labels int32 [N]).

  Raises:
    ValueError: for a dataset without TFDS images of a fixed size (synthetic, ImageNet-1k), or
      a split without examples.

  Example:

  >>> images, labels = tfds_examples("cifar10", "test", "/data/tfds")  # doctest: +SKIP
  """
  info = datasets_lib.dataset_info(dataset)
  if info.name not in _EVAL_SPLITS:
    raise ValueError(f"dataset must be one of {tuple(_EVAL_SPLITS)} to train from TFDS; "
                     f"got {info.name!r}")
  tfds, load = _tfds_loader(info, data_dir, download, None)
  chunks = list(tfds.as_numpy(load(split).batch(10_000)))
  if not chunks:
    raise ValueError(f"TFDS {info.tfds_name} split {split!r} holds no examples")
  images = np.concatenate([chunk[0] for chunk in chunks])
  labels = np.concatenate([chunk[1] for chunk in chunks])
  keep = labels < info.num_classes
  return sources.check_examples(images[keep], labels[keep], info.num_classes,
                                f"TFDS {info.tfds_name} {split}")
