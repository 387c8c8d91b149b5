"""The indicator images of the search and evaluate binaries: a `DataSource` from the data flags.

The run configuration records `data_source()`, the source's canonical identity, so that a rerun
in the same run directory on other images is refused instead of resumed, whatever the working
directory or the spelling of a path.
"""

from tenas_tf import data
from tenas_tf.launch import flags as tenas_flags


def source():
  """The `data.DataSource` the data flags name (checked: one line naming the flag if wrong)."""
  return data.DataSource(
      tenas_flags.DATASET.value, data_npz=tenas_flags.DATA_NPZ.value or None,
      image_dir=tenas_flags.IMAGE_DIR.value or None,
      tfrecords=tenas_flags.TFRECORDS.value or None,
      manual_dir=tenas_flags.MANUAL_DIR.value or None, data_dir=tenas_flags.DATA_DIR.value,
      synthetic_count=tenas_flags.SYNTHETIC_COUNT.value, seed=tenas_flags.SEED.value,
      cache_dir=tenas_flags.CACHE_DIR.value or None, max_images=tenas_flags.MAX_IMAGES.value)


def data_source():
  """The identity of `source()`, as the run configuration records it."""
  return source().identity


def load_images():
  """The images of `source()`, for the indicator pipelines."""
  return source().images()
