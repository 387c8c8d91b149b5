"""ImageNet through TFDS: mocked `imagenet2012`, a real preparation from ILSVRC-style tar files
in a `manual_dir`, and the size check of ImageNet16-120."""

import io
import os
import re
import tarfile
import tempfile
from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from tenas_tf.data import (check_imagenet16_120_count, dataset_info,
                           linear_region_batches, load_images, ntk_batches, tfds_images)

# The published sizes the loader compares against, replaced by the mocks' (module internals).
_SPLIT_SIZES = "tenas_tf.data.tfds_sources._IMAGENET_SPLIT_SIZES"
_IMAGENET16_120_SIZES = "tenas_tf.data.tfds_sources.IMAGENET16_120_SIZES"


def _all(images):
  return np.stack(list(images.as_numpy_iterator()))


def _resized(image, size=32):
  """The truth, computed here: antialiased bilinear resize, round half to even, clip."""
  resized = tf.image.resize(image, [size, size], method="bilinear", antialias=True).numpy()
  return np.clip(np.rint(resized), 0, 255).astype(np.uint8)


def _tfds():
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  return tfds


class MockedImagenetTest(tf.test.TestCase):
  """`mock_data`: random JPEGs of random sizes, as TFDS's imagenet2012 features describe."""

  def test_resized_before_batching(self):
    tfds = _tfds()
    info = dataset_info("imagenet-1k")
    with tfds.testing.mock_data(num_examples=12):
      # The truth: the JPEGs TFDS stores, decoded and resized in this test.
      encoded = tfds.load("imagenet2012", split="train", as_supervised=True,
                          decoders={"image": tfds.decode.SkipDecoding()})
      raw = [tf.io.decode_jpeg(data, channels=3).numpy()
             for data, _ in encoded.as_numpy_iterator()]
      images = load_images("imagenet-1k")
      self.assertEqual(images.element_spec, tf.TensorSpec([32, 32, 3], tf.uint8))
      got = _all(images)
      ntk = next(iter(ntk_batches(images, info, batch_size=6, seed=0)))
      crops = next(iter(linear_region_batches(images, info, batch_size=40, seed=0)))
    self.assertGreater(len({image.shape for image in raw}), 1)  # sizes differ: must resize
    self.assertEqual(got.shape, (12, 32, 32, 3))
    self.assertEqual(got.dtype, np.uint8)
    self.assertAllEqual(got, np.stack([_resized(image) for image in raw]))
    self.assertEqual(ntk.shape, (6, 32, 32, 3))
    self.assertEqual(crops.shape, (40, 3, 3, 1))

  def test_max_images_and_cache_dir(self):
    tfds = _tfds()
    with tempfile.TemporaryDirectory() as cache_dir, tfds.testing.mock_data(num_examples=9):
      everything = _all(tfds_images("imagenet-1k"))
      first = tfds_images("imagenet-1k", max_images=4, cache_dir=cache_dir)
      self.assertEqual(int(first.cardinality()), 4)
      self.assertNotEmpty(os.listdir(cache_dir))
      self.assertAllEqual(_all(first), everything[:4])


class ManualDirPreparationTest(tf.test.TestCase):
  """TFDS prepares `imagenet2012` for real, offline, from tiny ILSVRC2012-style tar files."""

  def _add(self, tar, name, data):
    entry = tarfile.TarInfo(name)
    entry.size = len(data)
    tar.addfile(entry, io.BytesIO(data))

  def _write_tars(self, manual_dir):
    """ILSVRC2012_img_train.tar (a tar of one tar per synset) and a small val tar."""
    rng = np.random.default_rng(0)
    encoded = {}
    with tarfile.open(os.path.join(manual_dir, "ILSVRC2012_img_train.tar"), "w") as outer:
      for synset in ("n01440764", "n01443537"):  # labels 0 and 1 of imagenet2012
        inner_bytes = io.BytesIO()
        with tarfile.open(fileobj=inner_bytes, mode="w") as inner:
          for index in range(3):
            shape = (40 + 7 * index, 50 + 3 * index, 3)
            data = tf.io.encode_jpeg(rng.integers(0, 256, shape, dtype=np.uint8)).numpy()
            self._add(inner, f"{synset}_{index}.JPEG", data)
            encoded[f"{synset}_{index}.JPEG"] = data
        self._add(outer, f"{synset}.tar", inner_bytes.getvalue())
    with tarfile.open(os.path.join(manual_dir, "ILSVRC2012_img_val.tar"), "w") as val:
      for index in range(2):
        data = tf.io.encode_jpeg(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).numpy()
        self._add(val, f"ILSVRC2012_val_{index + 1:08d}.JPEG", data)
    return encoded

  def test_prepares_from_manual_dir_and_resizes(self):
    with tempfile.TemporaryDirectory() as tmp:
      manual_dir = os.path.join(tmp, "manual")
      os.makedirs(manual_dir)
      encoded = self._write_tars(manual_dir)
      data_dir = os.path.join(tmp, "tfds")
      images = load_images("imagenet-1k", data_dir=data_dir, manual_dir=manual_dir)
      got = _all(images)
      self.assertTrue(os.path.isdir(os.path.join(data_dir, "imagenet2012")))
    self.assertEqual(got.shape, (6, 32, 32, 3))
    expected = [_resized(tf.io.decode_jpeg(data, channels=3)) for data in encoded.values()]
    # TFDS shuffles the examples when it writes them: compare as multisets.
    key = lambda image: image.tobytes()
    self.assertEqual(sorted(map(key, got)), sorted(map(key, expected)))

  def test_missing_manual_dir(self):
    with tempfile.TemporaryDirectory() as tmp:
      missing = os.path.join(tmp, "nope")
      with self.assertRaisesRegex(ValueError, "manual_dir " + re.escape(repr(missing)) +
                                  " does not exist"):
        load_images("imagenet-1k", data_dir=tmp, manual_dir=missing)


class Imagenet16CountTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(("train", 151_700), ("validation", 6_000))
  def test_published_sizes_pass(self, split, count):
    self.assertEqual(check_imagenet16_120_count(count, split), count)
    self.assertEqual(check_imagenet16_120_count(tf.data.Dataset.range(count), split), count)

  @parameterized.parameters(("train", 151_699, 151_700), ("train", 153_840, 151_700),
                            ("validation", 5_000, 6_000))
  def test_wrong_size_names_both_numbers(self, split, count, expected):
    with self.assertRaisesRegex(ValueError, f"ImageNet16-120 '{split}' split must hold "
                                f"{expected} images .*; got {count}"):
      check_imagenet16_120_count(count, split)

  def test_unknown_split(self):
    with self.assertRaisesRegex(ValueError, r"split must be one of \('train', 'validation'\) "
                                r".*; got 'test'"):
      check_imagenet16_120_count(10, "test")

  def _complete_split(self, label_of_index):
    """Mocks `imagenet_resized/16x16` with a complete 'train' split, labels by index.

    ILSVRC2012's 1,281,167 records take minutes to mock, so here a complete split has 3,000
    records and ImageNet16-120 240 of them (the published sizes are checked above).
    """
    tfds = _tfds()
    self.enter_context(mock.patch(_SPLIT_SIZES, {"train": 3_000}))
    self.enter_context(mock.patch(_IMAGENET16_120_SIZES, {"train": 240}))

    def as_dataset(builder, split, decoders=None, read_config=None, shuffle_files=False):
      del builder, split, decoders, read_config, shuffle_files
      examples = tf.data.Dataset.range(3_000).map(
          lambda i: {"image": tf.zeros([16, 16, 3], tf.uint8), "label": label_of_index(i)})
      return examples.apply(tf.data.experimental.assert_cardinality(3_000))

    return tfds.testing.mock_data(as_dataset_fn=as_dataset)

  def test_complete_load_is_checked(self):
    # 1,000 classes in turn: 3 x 120 = 360 records with label < 120, not 240.
    with self._complete_split(lambda i: i % 1000):
      with self.assertRaisesRegex(ValueError, r"'train' split must hold 240 images .*; "
                                  r"got 360"):
        tfds_images("imagenet16-120")
      # Opting out, or loading part of the split, skips the check.
      self.assertLen(_all(tfds_images("imagenet16-120", check_count=False)), 360)
      self.assertLen(_all(tfds_images("imagenet16-120", max_images=3)), 3)

  def test_complete_load_of_the_right_size_passes(self):
    with self._complete_split(lambda i: tf.where(i < 240, i % 120, 500)):
      images = tfds_images("imagenet16-120")
      self.assertLen(_all(images), 240)
    self.assertEqual(images.element_spec, tf.TensorSpec([16, 16, 3], tf.uint8))

  def test_incomplete_split_is_not_checked(self):
    # Mock data of another size (2,999 records): not the whole split, no check.
    self.enter_context(mock.patch(_SPLIT_SIZES, {"train": 3_000}))
    with _tfds().testing.mock_data(num_examples=200):
      self.assertNotEmpty(_all(tfds_images("imagenet16-120")))


if __name__ == "__main__":
  absltest.main()
