"""Tests of the NTK and linear-region pipelines against numpy brute force."""

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from tenas_tf.data import (dataset_info, linear_region_batches, ntk_batches,
                           synthetic_images)
from tests import testing_utils

# mean / std x 255 per dataset, copied from AutoDL's `get_dataset_with_transform.py` (NB201's
# code; independent of the package).
_STATS = {
    "cifar10": ((125.3, 123.0, 113.9), (63.0, 62.1, 66.7)),
    "cifar100": ((129.3, 124.1, 112.4), (68.2, 65.4, 70.4)),
    "imagenet16-120": ((122.68, 116.66, 104.01), (63.22, 61.26, 65.09)),
}
# The pipelines compute in float32; the truths below are float64.
_TOL = testing_utils.tolerance(np.float32)


def _stats(name):
  mean, std = _STATS[name]
  return np.array(mean) / 255, np.array(std) / 255


def _images(x):
  return tf.data.Dataset.from_tensor_slices(np.asarray(x, np.uint8))


def _take(dataset, n):
  return list(dataset.take(n).as_numpy_iterator())


def _random_uint8(shape, seed):
  return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


class NtkBatchesTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters("cifar10", "cifar100", "imagenet16-120")
  def test_constant_image_normalised(self, name):
    info = dataset_info(name)
    size, pad = info.image_size, info.pad
    value = 200
    # 128 copies of one image: one batch needs 128 images, and all must look the same.
    batch, = _take(ntk_batches(_images(np.full((128, size, size, 3), value)), info,
                               batch_size=128, seed=0), 1)
    self.assertEqual(batch.shape, (128, size, size, 3))
    self.assertEqual(batch.dtype, np.float32)
    mean, std = _stats(name)
    inside = (value / 255 - mean) / std
    padded = -mean / std  # black padding, normalised
    # Rows / columns [2 pad, size - 2 pad) are inside the image whatever the crop offset.
    self.assertAllClose(batch[:, 2 * pad:size - 2 * pad, 2 * pad:size - 2 * pad],
                        np.broadcast_to(inside, (128, size - 4 * pad, size - 4 * pad, 3)),
                        **_TOL)
    is_inside = np.isclose(batch, inside, **_TOL).all(axis=-1)
    is_padded = np.isclose(batch, padded, **_TOL).all(axis=-1)
    self.assertTrue(np.all(is_inside | is_padded))
    # The image is a rectangle in every crop, the padding a border around it of <= pad pixels.
    rows, cols = is_inside.any(axis=2), is_inside.any(axis=1)
    self.assertAllEqual(is_inside, rows[:, :, None] & cols[:, None, :])
    # Recover each crop's offset in the padded image from its border: all 2 pad + 1 occur.
    for inside_lines in (rows, cols):
      first = inside_lines.argmax(axis=1)
      count = inside_lines.sum(axis=1)
      offsets = np.where(first > 0, pad - first, pad + size - count)
      self.assertAllEqual(count, size - np.abs(offsets - pad))
      self.assertEqual(set(offsets.tolist()), set(range(2 * pad + 1)))

  @parameterized.parameters("cifar10", "imagenet16-120")
  def test_every_image_is_a_flipped_padded_crop(self, name):
    info = dataset_info(name)
    size, pad = info.image_size, info.pad
    mean, std = _stats(name)
    source = _random_uint8((4, size, size, 3), seed=1)
    # All (image, flip, top, left) candidates, normalised in float64.
    candidates, keys = [], []
    for i, image in enumerate(source):
      for flip in (False, True):
        padded = np.pad(image[:, ::-1] if flip else image, ((pad, pad), (pad, pad), (0, 0)))
        for top in range(2 * pad + 1):
          for left in range(2 * pad + 1):
            crop = padded[top:top + size, left:left + size] / 255
            candidates.append((crop - mean) / std)
            keys.append((i, flip, top, left))
    candidates = np.stack(candidates)
    found = []
    for batch in _take(ntk_batches(_images(source), info, batch_size=4, seed=3), 16):
      for sample in batch:
        matches = np.flatnonzero(np.isclose(candidates, sample, **_TOL).all(axis=(1, 2, 3)))
        self.assertLen(matches, 1)  # random images: exactly one window matches
        found.append(keys[matches[0]])
    images, flips, tops, lefts = zip(*found)
    self.assertEqual(set(images), {0, 1, 2, 3})
    self.assertEqual(set(flips), {False, True})
    self.assertGreater(len(set(tops)), pad)
    self.assertGreater(len(set(lefts)), pad)
    # Shuffle without replacement: each block of 4 consecutive samples is one epoch.
    for start in range(0, len(images), 4):
      self.assertEqual(sorted(images[start:start + 4]), [0, 1, 2, 3])

  def test_deterministic_given_seed(self):
    info = dataset_info("synthetic")

    def first_batches(seed):
      return _take(ntk_batches(synthetic_images(40, 32, seed=0), info, batch_size=8,
                               seed=seed), 3)

    first = first_batches(5)
    for a, b in zip(first, first_batches(5)):
      self.assertAllEqual(a, b)
    for a, b in zip(first, first_batches(6)):
      self.assertNotAllClose(a, b)

  @parameterized.parameters(1, 0, 2.0, True, None)
  def test_bad_batch_size(self, batch_size):
    with self.assertRaisesRegex(ValueError, f"batch_size must be an int >= 2 .*; "
                                f"got {batch_size!r}"):
      ntk_batches(synthetic_images(4, 32, 0), dataset_info("synthetic"), batch_size, seed=0)

  def test_bad_images(self):
    info = dataset_info("cifar10")
    with self.assertRaisesRegex(ValueError, r"must have shape \(32, 32, 3\); got \(16, 16, 3\)"):
      ntk_batches(synthetic_images(4, 16, 0), info, 8, seed=0)
    with self.assertRaisesRegex(ValueError, r"uint8 images .*; got element_spec"):
      ntk_batches(_images(np.zeros((4, 32, 32, 3))).map(lambda x: (x, 0)), info, 8, seed=0)
    with self.assertRaisesRegex(ValueError, r"uint8 images .*; got element_spec"):
      floats = tf.data.Dataset.from_tensor_slices(np.zeros((4, 32, 32, 3), np.float32))
      ntk_batches(floats, info, 8, seed=0)
    with self.assertRaisesRegex(ValueError, r"seed must be an int; got '0'"):
      ntk_batches(synthetic_images(4, 32, 0), info, 8, seed="0")


class LinearRegionBatchesTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters("cifar10", "imagenet16-120")
  def test_every_sample_is_a_normalised_window_of_one_channel(self, name):
    info = dataset_info(name)
    mean, std = _stats(name)
    source = _random_uint8((3, 6, 7, 3), seed=2)
    candidates, keys = [], []
    for i, image in enumerate(source):
      normalised = (image / 255 - mean) / std
      for top in range(6 - 2):
        for left in range(7 - 2):
          for channel in range(3):
            candidates.append(normalised[top:top + 3, left:left + 3, channel:channel + 1])
            keys.append((i, top, left, channel))
    candidates = np.stack(candidates)
    found = []
    for batch in _take(linear_region_batches(_images(source), info, batch_size=60, seed=4), 3):
      self.assertEqual(batch.shape, (60, 3, 3, 1))
      self.assertEqual(batch.dtype, np.float32)
      for sample in batch:
        matches = np.flatnonzero(np.isclose(candidates, sample, **_TOL).all(axis=(1, 2, 3)))
        self.assertLen(matches, 1)  # random images: exactly one window matches
        found.append(keys[matches[0]])
    images, tops, lefts, channels = zip(*found)
    self.assertEqual(set(images), {0, 1, 2})
    self.assertEqual(set(tops), set(range(4)))
    self.assertEqual(set(lefts), set(range(5)))
    self.assertEqual(set(channels), {0, 1, 2})

  def test_reference_shape_on_cifar_sized_images(self):
    info = dataset_info("synthetic")
    batches = _take(linear_region_batches(synthetic_images(50, 32, 0), info, seed=0), 3)
    self.assertEqual([b.shape for b in batches], [(1000, 3, 3, 1)] * 3)
    self.assertGreater(len({b.tobytes() for b in np.concatenate(batches)}), 2900)

  def test_deterministic_given_seed(self):
    info = dataset_info("cifar100")

    def first_batches(seed):
      return _take(linear_region_batches(synthetic_images(30, 32, seed=0), info,
                                         batch_size=100, seed=seed), 3)

    first = first_batches(1)
    for a, b in zip(first, first_batches(1)):
      self.assertAllEqual(a, b)
    for a, b in zip(first, first_batches(2)):
      self.assertNotAllClose(a, b)

  @parameterized.parameters(0, -3, 1.5, False)
  def test_bad_batch_size(self, batch_size):
    with self.assertRaisesRegex(ValueError, f"batch_size must be an int >= 1 .*; "
                                f"got {batch_size!r}"):
      linear_region_batches(synthetic_images(4, 32, 0), "synthetic", batch_size, seed=0)

  def test_images_too_small(self):
    with self.assertRaisesRegex(ValueError, r"at least 3x3; got \(2, 2, 3\)"):
      linear_region_batches(synthetic_images(4, 2, 0), "synthetic", 10, seed=0)


if __name__ == "__main__":
  absltest.main()
