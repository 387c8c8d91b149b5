"""Decode once: each image is decoded once however many pipelines, iterators and batches read it."""

import glob
import os
import re
import tempfile
import threading
from unittest import mock

from absl.testing import absltest
import numpy as np
import tensorflow as tf

from tenas_tf.data import (cache_images, dataset_info, decode_and_resize, linear_region_batches,
                           load_images, ntk_batches)


def _all(images):
  return np.stack(list(images.as_numpy_iterator()))


class _DecodeCounter:
  """Replaces `decode_and_resize`, where the sources call it, by itself plus a count."""

  def __init__(self, test):
    self.count = 0
    self._lock = threading.Lock()
    original = decode_and_resize

    def tick():
      with self._lock:
        self.count += 1
      return np.int32(0)

    def counting(encoded, image_size):
      ticked = tf.py_function(tick, [], tf.int32)
      with tf.control_dependencies([ticked]):
        return tf.identity(original(encoded, image_size))

    test.enter_context(mock.patch("tenas_tf.data.imagenet.decode_and_resize", counting))


class DecodeOnceTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    tmp = tempfile.TemporaryDirectory()
    self.addCleanup(tmp.cleanup)
    self.tmp = tmp.name
    self.root = os.path.join(self.tmp, "train")
    rng = np.random.default_rng(0)
    self.num_images = 7
    for index in range(self.num_images):
      folder = os.path.join(self.root, f"class_{index % 2}")
      os.makedirs(folder, exist_ok=True)
      pixels = rng.integers(0, 256, (40 + index, 60, 3), dtype=np.uint8)
      with open(os.path.join(folder, f"{index}.jpg"), "wb") as stream:
        stream.write(tf.io.encode_jpeg(pixels).numpy())
    self.info = dataset_info("imagenet-1k")

  def _search_like_reads(self, images):
    """What the search does: per round, new NTK and LR pipelines, several batches of each."""
    for round_seed in range(3):
      ntk = iter(ntk_batches(images, self.info, batch_size=4, seed=round_seed))
      for _ in range(5):  # 20 images: the 7 images are read about 3 times per round
        self.assertEqual(next(ntk).shape, (4, 32, 32, 3))
      crops = iter(linear_region_batches(images, self.info, batch_size=100, seed=round_seed))
      for _ in range(3):
        self.assertEqual(next(crops).shape, (100, 3, 3, 1))

  def test_in_memory(self):
    counter = _DecodeCounter(self)
    images = load_images(self.info, image_dir=self.root)
    self.assertEqual(counter.count, 0)  # decoded lazily, as first read
    self._search_like_reads(images)
    # 6 pipelines, 1,200 samples: without the source's cache each pipeline would decode anew.
    self.assertEqual(counter.count, self.num_images)
    self.assertLen(_all(images), self.num_images)
    self.assertEqual(counter.count, self.num_images)

  def test_on_disk_reused_by_a_later_load(self):
    cache_dir = os.path.join(self.tmp, "cache")
    counter = _DecodeCounter(self)
    first = load_images(self.info, image_dir=self.root, cache_dir=cache_dir)
    self.assertEqual(counter.count, self.num_images)  # one pass now, to fill the cache files
    self.assertEqual(int(first.cardinality()), self.num_images)
    self.assertLen(glob.glob(os.path.join(cache_dir, "image_dir_32px-*.index")), 1)
    self._search_like_reads(first)
    self.assertEqual(counter.count, self.num_images)
    # A later run: a new dataset over the same files reads the cache, decodes nothing.
    second = load_images(self.info, image_dir=self.root, cache_dir=cache_dir)
    self._search_like_reads(second)
    self.assertEqual(counter.count, self.num_images)
    self.assertAllEqual(_all(second), _all(first))
    # Other options, other cache: 3 new decodes for the first 3 images.
    third = load_images(self.info, image_dir=self.root, cache_dir=cache_dir, max_images=3)
    self.assertEqual(counter.count, self.num_images + 3)
    self.assertAllEqual(_all(third), _all(first)[:3])
    self.assertLen(glob.glob(os.path.join(cache_dir, "image_dir_32px-*.index")), 2)

  def test_max_images_decoded_up_front_in_memory(self):
    counter = _DecodeCounter(self)
    images = load_images(self.info, image_dir=self.root, max_images=5)
    self.assertEqual(counter.count, 5)
    self.assertEqual(int(images.cardinality()), 5)
    self._search_like_reads(images)
    self.assertEqual(counter.count, 5)

  def test_cache_images_errors(self):
    empty = tf.data.Dataset.range(0)
    with self.assertRaisesRegex(ValueError, r"images 'empty' to cache must hold at least one "
                                r"element; got none"):
      cache_images(empty, name="empty", fingerprint="", max_images=1)
    a_file = os.path.join(self.tmp, "file")
    open(a_file, "w").close()
    with self.assertRaisesRegex(ValueError, r"cache_dir must be a directory; got " +
                                re.escape(repr(a_file))):
      cache_images(tf.data.Dataset.range(2), name="x", fingerprint="", cache_dir=a_file)


if __name__ == "__main__":
  absltest.main()
