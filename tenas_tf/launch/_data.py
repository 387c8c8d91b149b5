"""The indicator images of the search and evaluate binaries: their data flags, as a `DataSource`.

The run configuration records the source's canonical identity, so that a rerun in the same run
directory on other images is refused instead of resumed, whatever the working directory or the
spelling of a path.
"""

from tenas_tf import data
from tenas_tf.launch import flags as tenas_flags

DATASET = tenas_flags.dataset()
DATA_DIR, DATA_NPZ, SYNTHETIC_COUNT = tenas_flags.labelled_data()
IMAGE_DIR, TFRECORDS, MANUAL_DIR, CACHE_DIR, MAX_IMAGES = tenas_flags.image_files()
SEED = tenas_flags.seed()
FLAGS = (DATASET, DATA_DIR, DATA_NPZ, SYNTHETIC_COUNT, IMAGE_DIR, TFRECORDS, MANUAL_DIR,
         CACHE_DIR, MAX_IMAGES, SEED)


def source():
  """The `data.DataSource` the data flags name (checked: one line naming the flag if wrong)."""
  return data.DataSource(
      DATASET.value, data_npz=DATA_NPZ.value or None, image_dir=IMAGE_DIR.value or None,
      tfrecords=TFRECORDS.value or None, manual_dir=MANUAL_DIR.value or None,
      data_dir=DATA_DIR.value, synthetic_count=SYNTHETIC_COUNT.value, seed=SEED.value,
      cache_dir=CACHE_DIR.value or None, max_images=MAX_IMAGES.value)
