"""The indicator images of the search and evaluate binaries, from the data flags.

One image source at most: `--data_npz`, or for ImageNet-1k `--image_dir`, `--tfrecords` or TFDS
`imagenet2012` prepared from `--manual_dir`; without one, random images (`--dataset=synthetic`)
or TFDS. The run configuration records `data_source()`, so that a rerun in the same run
directory on other images is refused instead of resumed.
"""

from tenas_tf import data as data_lib
from tenas_tf.data import caching
from tenas_tf.launch import flags as tenas_flags

# Sources of ImageNet-1k only: whole images of any size, resized to 32x32 (TENAS_SPEC.md sec. 6).
_IMAGENET_SOURCES = (tenas_flags.IMAGE_DIR, tenas_flags.TFRECORDS, tenas_flags.MANUAL_DIR)
_SOURCES = (tenas_flags.DATA_NPZ,) + _IMAGENET_SOURCES


def _shown(holder):
  value = holder.value
  return f"--{holder.name}={','.join(value) if isinstance(value, list) else value}"


def _checked_source():
  """(dataset name, the source flag's name or None); raises ValueError on a bad combination."""
  dataset = data_lib.dataset_info(tenas_flags.DATASET.value).name
  given = [holder for holder in _SOURCES if holder.value]
  if len(given) > 1:
    raise ValueError(f"give at most one image source of "
                     f"{', '.join('--' + holder.name for holder in _SOURCES)}; "
                     f"got {' and '.join(_shown(holder) for holder in given)}")
  source = given[0].name if given else None
  if source in {holder.name for holder in _IMAGENET_SOURCES} and dataset != "imagenet-1k":
    raise ValueError(f"--{source} reads ImageNet-1k and needs --dataset=imagenet-1k; "
                     f"got --dataset={tenas_flags.DATASET.value}")
  if tenas_flags.CACHE_DIR.value and (source == "data_npz" or
                                      (source is None and dataset == "synthetic")):
    other = _shown(given[0]) if given else "--dataset=synthetic"
    raise ValueError(f"--cache_dir caches the decoded images of --image_dir, --tfrecords or "
                     f"TFDS; got --cache_dir={tenas_flags.CACHE_DIR.value} with {other}")
  caching.check_max_images(tenas_flags.MAX_IMAGES.value)
  return dataset, source


def data_source():
  """Where the images come from, as the run configuration records it (flags checked first).

  Returns:
    "npz:<paths>", "image_dir:<folder>", "tfrecords:<patterns>", "synthetic:<count>" or "tfds"
    (also TFDS prepared from --manual_dir: the same images), with ";max_images=<N>" appended
    when --max_images is given. --cache_dir is left out: cached or not, the images are the same.

  Raises:
    ValueError: if --dataset is unknown, several sources are given, --image_dir, --tfrecords or
      --manual_dir comes with another dataset than imagenet-1k, --cache_dir comes with
      --data_npz or --dataset=synthetic, or --max_images is below 1.
  """
  dataset, source = _checked_source()
  if source == "data_npz":
    name = f"npz:{','.join(tenas_flags.DATA_NPZ.value)}"
  elif source == "image_dir":
    name = f"image_dir:{tenas_flags.IMAGE_DIR.value}"
  elif source == "tfrecords":
    name = f"tfrecords:{','.join(tenas_flags.TFRECORDS.value)}"
  elif source is None and dataset == "synthetic":
    name = f"synthetic:{tenas_flags.SYNTHETIC_COUNT.value}"
  else:
    name = "tfds"
  max_images = tenas_flags.MAX_IMAGES.value
  return name if max_images is None else f"{name};max_images={max_images}"


def load_images():
  """The images of --dataset from the source the data flags select (`data.load_images`).

  Raises:
    ValueError: as `data_source`, or for a missing or malformed source (named).
  """
  _checked_source()
  return data_lib.load_images(
      tenas_flags.DATASET.value, data_dir=tenas_flags.DATA_DIR.value,
      data_npz=tenas_flags.DATA_NPZ.value, synthetic_count=tenas_flags.SYNTHETIC_COUNT.value,
      seed=tenas_flags.SEED.value, manual_dir=tenas_flags.MANUAL_DIR.value,
      image_dir=tenas_flags.IMAGE_DIR.value, tfrecords=tenas_flags.TFRECORDS.value,
      cache_dir=tenas_flags.CACHE_DIR.value, max_images=tenas_flags.MAX_IMAGES.value)
