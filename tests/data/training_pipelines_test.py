"""Training and evaluation pipelines against brute force: every crop, flip and cutout checked."""

import os
import tempfile

from absl.testing import absltest
import numpy as np

from tenas_tf.data import (dataset_info, eval_batches, npz_examples, synthetic_examples,
                           synthetic_images, tfds_examples, train_batches)
from tests import testing_utils

INFO = dataset_info("cifar10")
SHARED_CIFAR = testing_utils.shared_dir() / "data" / "cifar"


def _examples(count=8, seed=0):
  rng = np.random.default_rng(seed)
  images = rng.integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8)
  return images, rng.integers(0, 10, size=count).astype(np.int32)


def _normalized(pixels):
  return ((pixels.astype(np.float64) / 255.0 - np.array(INFO.mean)) / np.array(INFO.std))


def _take(dataset, count):
  return [(x.numpy(), y.numpy()) for x, y in dataset.take(count)]


def _candidates(image):
  """All 2 x 81 flip / pad-4-crop views of one uint8 image, normalised: [162, 32, 32, 3]."""
  views = []
  for flipped in (image, image[:, ::-1]):
    padded = np.pad(flipped.astype(np.float64), ((4, 4), (4, 4), (0, 0)))
    views += [padded[top:top + 32, left:left + 32] for top in range(9) for left in range(9)]
  return _normalized(np.stack(views))


class TrainDataTest(absltest.TestCase):

  def test_each_image_is_a_flip_and_crop_of_its_source_and_a_pass_is_a_permutation(self):
    images, labels = _examples(count=9)
    batches = _take(train_batches(images, labels, INFO, 4, seed=3), 2)  # 1 pass = 2
    candidates = [_candidates(image) for image in images]
    sources = []
    for x, one_hot in batches:
      self.assertEqual(x.shape, (4, 32, 32, 3))
      self.assertEqual(x.dtype, np.float32)
      for image, label in zip(x, one_hot):
        matches = [i for i, views in enumerate(candidates)
                   if np.any(np.all(np.abs(views - image) < 1e-4, axis=(1, 2, 3)))]
        self.assertLen(matches, 1)
        sources.append(matches[0])
        np.testing.assert_array_equal(label, np.eye(10)[labels[matches[0]]])
    self.assertLen(set(sources), 8)  # 8 distinct images of 9: one pass, remainder dropped

  def test_same_seed_same_batches_and_resuming_at_a_step_continues_the_stream(self):
    images, labels = _examples(count=10)
    stream = _take(train_batches(images, labels, INFO, 4, seed=1, cutout=16), 7)
    again = _take(train_batches(images, labels, INFO, 4, seed=1, cutout=16), 7)
    # 2 batches a pass: step 5 is the middle of the third pass.
    resumed = _take(train_batches(images, labels, INFO, 4, seed=1, cutout=16, start_step=5), 2)
    other = _take(train_batches(images, labels, INFO, 4, seed=2, cutout=16), 1)
    for (x, y), (x2, y2) in zip(stream, again):
      np.testing.assert_array_equal(x, x2)
      np.testing.assert_array_equal(y, y2)
    self.assertLen(resumed, 2)
    for (x, y), (x2, y2) in zip(stream[5:], resumed):
      np.testing.assert_array_equal(x, x2)
      np.testing.assert_array_equal(y, y2)
    self.assertFalse(np.array_equal(stream[0][0], other[0][0]))

  def test_cutout_zeroes_one_clipped_square_per_image(self):
    images, labels = _examples(count=64)
    plain = _take(train_batches(images, labels, INFO, 64, seed=5), 1)[0][0]
    cut = _take(train_batches(images, labels, INFO, 64, seed=5, cutout=16), 1)[0][0]
    heights = []
    for a, b in zip(plain, cut):
      changed = np.any(a != b, axis=-1)
      np.testing.assert_array_equal(b[changed], 0.0)
      rows, cols = np.flatnonzero(changed.any(1)), np.flatnonzero(changed.any(0))
      # One axis-aligned rectangle, 8..16 pixels a side (16 clipped by the border).
      self.assertEqual(changed.sum(), len(rows) * len(cols))
      self.assertEqual(rows[-1] - rows[0] + 1, len(rows))
      self.assertBetween(len(rows), 8, 16)
      self.assertBetween(len(cols), 8, 16)
      heights.append(len(rows))
    self.assertIn(16, heights)
    self.assertLess(min(heights), 16)

  def test_eval_batches_are_normalised_in_order_with_a_short_last_batch(self):
    images, labels = _examples(count=10)
    batches = _take(eval_batches(images, labels, INFO, 4), 10)
    self.assertEqual([len(x) for x, _ in batches], [4, 4, 2])
    x = np.concatenate([x for x, _ in batches])
    y = np.concatenate([y for _, y in batches])
    np.testing.assert_allclose(x, _normalized(images), **testing_utils.tolerance(np.float32))
    np.testing.assert_array_equal(y, np.eye(10)[labels])

  def test_npz_examples_read_images_and_labels(self):
    path = SHARED_CIFAR / "cifar10_test_0000-0999.npz"
    if not path.exists():
      self.skipTest(f"shared CIFAR-10 images absent: {path}")
    images, labels = npz_examples(str(path), 10)
    with np.load(path) as archive:
      np.testing.assert_array_equal(images, archive["x"])
      np.testing.assert_array_equal(labels, archive["y"])
    self.assertEqual(labels.dtype, np.int32)

  def test_synthetic_examples_are_the_synthetic_images_with_generator_labels(self):
    images, labels = synthetic_examples(6, 8, 10, seed=3)
    rng = np.random.default_rng(3)  # images first, then labels, from one generator
    np.testing.assert_array_equal(images, rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8))
    np.testing.assert_array_equal(labels, rng.integers(0, 10, size=6))
    self.assertEqual(labels.dtype, np.int32)
    np.testing.assert_array_equal(
        images, np.stack(list(synthetic_images(6, 8, seed=3).as_numpy_iterator())))
    with self.assertRaisesRegex(ValueError, "num_classes must be an int >= 1; got 0"):
      synthetic_examples(6, 8, 0, seed=3)

  def test_tfds_examples_keep_labels_below_num_classes(self):
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    with tfds.testing.mock_data(num_examples=40):
      images, labels = tfds_examples("cifar10", "test")
      small, small_labels = tfds_examples("imagenet16-120", "validation")
    self.assertEqual((images.shape, images.dtype, labels.dtype),
                     ((40, 32, 32, 3), np.uint8, np.int32))
    self.assertTrue(np.all((labels >= 0) & (labels < 10)))
    # Mock ImageNet labels span 1000 classes: only those below 120 are kept.
    self.assertEqual(small.shape[1:], (16, 16, 3))
    self.assertLess(len(small), 40)
    self.assertTrue(np.all(small_labels < 120))
    with self.assertRaisesRegex(ValueError, "to train from TFDS; got 'synthetic'"):
      tfds_examples("synthetic", "train")

  def test_bad_inputs_are_refused_with_the_value(self):
    images, labels = _examples(count=4)
    with self.assertRaisesRegex(ValueError, r"labels of train_batches must lie in \[0, 10\); "
                                            "got 12 at index 2"):
      train_batches(images, np.array([0, 1, 12, 3]), INFO, 2, seed=0)
    with self.assertRaisesRegex(ValueError, r"batch_size must be an int in \[1, 4\] \(at most "
                                            r"the number of training examples\); got 5"):
      train_batches(images, labels, INFO, 5, seed=0)
    with self.assertRaisesRegex(ValueError, "cutout must be an int >= 0; got -1"):
      train_batches(images, labels, INFO, 2, seed=0, cutout=-1)
    with self.assertRaisesRegex(ValueError, "must be 32x32x3 for dataset 'cifar10'"):
      train_batches(images[:, :16, :16], labels, INFO, 2, seed=0)
    tmp = self.enter_context(tempfile.TemporaryDirectory())
    path = os.path.join(tmp, "images_only.npz")
    np.savez(path, x=images)
    with self.assertRaisesRegex(ValueError, r"must hold images under key 'x' and labels under "
                                            r"key 'y'; got keys \('x',\)"):
      npz_examples(path, 10)
    with self.assertRaisesRegex(ValueError, "does not exist"):
      npz_examples(os.path.join(tmp, "absent.npz"), 10)


if __name__ == "__main__":
  absltest.main()
