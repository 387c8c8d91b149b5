"""Tests of the image sources: real CIFAR .npz subsets, temporary files, synthetic, mocked TFDS."""

import os
from pathlib import Path
import re
import tempfile

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from tenas_tf.data import dataset_info
from tenas_tf.data import load_images
from tenas_tf.data import npz_images
from tenas_tf.data import ntk_batches
from tenas_tf.data import synthetic_images
from tenas_tf.data import tfds_images
from tests import testing_utils

# The `shared` folder beside the repository checkout holds real CIFAR subsets.
_CIFAR_DIR = testing_utils.shared_dir() / "data" / "cifar"
_TRAIN_A = _CIFAR_DIR / "cifar10_train_0000-0999.npz"
_TRAIN_B = _CIFAR_DIR / "cifar10_train_1000-1999.npz"
_CIFAR100 = _CIFAR_DIR / "cifar100_test_0000-0019.npz"


def _all(images):
  return np.stack(list(images.as_numpy_iterator()))


@absltest.skipIf(not _TRAIN_A.is_file(), f"real CIFAR subsets not found in {_CIFAR_DIR}")
class RealNpzTest(tf.test.TestCase):

  def test_two_files_concatenated_in_order(self):
    images = npz_images(f"{_TRAIN_A},{_TRAIN_B}")
    self.assertEqual(images.element_spec, tf.TensorSpec([32, 32, 3], tf.uint8))
    got = _all(images)
    with np.load(_TRAIN_A) as a, np.load(_TRAIN_B) as b:
      expected = np.concatenate([a["x"], b["x"]])
    self.assertEqual(got.shape, (2000, 32, 32, 3))
    self.assertAllEqual(got, expected)

  def test_load_images_list_and_cifar100(self):
    images = load_images("cifar10", data_npz=[_TRAIN_B])
    self.assertEqual(int(images.cardinality()), 1000)
    images = load_images("cifar100", data_npz=str(_CIFAR100))
    with np.load(_CIFAR100) as f:
      self.assertAllEqual(_all(images), f["x"])

  def test_wrong_size_for_dataset(self):
    with self.assertRaisesRegex(
        ValueError, r"images of dataset 'imagenet16-120' .* must have shape \(16, 16, 3\); "
        r"got \(32, 32, 3\)"):
      load_images("imagenet16-120", data_npz=str(_TRAIN_A))


class TempNpzTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    tmp = tempfile.TemporaryDirectory()
    self.addCleanup(tmp.cleanup)
    self.tmp = tmp.name

  def _write(self, name, **arrays):
    path = os.path.join(self.tmp, name)
    np.savez(path, **arrays)
    return path

  def test_round_trip_ignores_other_keys(self):
    rng = np.random.default_rng(0)
    x1 = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    x2 = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    p1 = self._write("a.npz", x=x1, y=np.arange(3))
    p2 = self._write("b.npz", x=x2)
    self.assertAllEqual(_all(npz_images([p1, Path(p2)])), np.concatenate([x1, x2]))
    images = load_images("imagenet16-120", data_npz=f" {p2} , {p1}")
    self.assertAllEqual(_all(images), np.concatenate([x2, x1]))

  def test_missing_file(self):
    missing = os.path.join(self.tmp, "nope.npz")
    with self.assertRaisesRegex(ValueError, re.escape(repr(missing)) + " does not exist"):
      npz_images(missing)

  def test_no_x_key(self):
    path = self._write("a.npz", images=np.zeros((1, 32, 32, 3), np.uint8))
    with self.assertRaisesRegex(ValueError,
                                r"under key 'x'; got keys \('images',\)"):
      npz_images(path)

  def test_files_that_are_not_npz_archives_are_named(self):
    empty = os.path.join(self.tmp, "empty.npz")
    open(empty, "w").close()
    text = os.path.join(self.tmp, "text.npz")
    with open(text, "w") as stream:
      stream.write("x,y\n1,2\n")
    single = os.path.join(self.tmp, "single.npz")
    with open(single, "wb") as stream:
      np.save(stream, np.zeros((2, 32, 32, 3), np.uint8))
    whole = self._write("whole.npz", x=np.zeros((50, 32, 32, 3), np.uint8))
    truncated = os.path.join(self.tmp, "truncated.npz")
    with open(whole, "rb") as source, open(truncated, "wb") as target:
      target.write(source.read()[:400])
    cases = {empty: "it is empty", text: r"it is not a zip archive \(it starts with b'x,y",
             single: r"it is not a zip archive \(it starts with b'\\x93NUM'\)",
             truncated: "File is not a zip file"}
    for path, why in cases.items():
      with self.subTest(os.path.basename(path)):
        with self.assertRaisesRegex(ValueError, "^data_npz file " + re.escape(repr(path)) +
                                    r" is not a NumPy \.npz archive \(write one with "
                                    r"numpy\.savez.*\): " + why):
          npz_images(path)

  def test_object_array_is_refused_without_unpickling(self):
    path = self._write("objects.npz", x=np.array([np.zeros(3), "a"], dtype=object))
    with self.assertRaisesRegex(ValueError, r"'x' in data_npz file " + re.escape(repr(path)) +
                                " is an object array .*never loaded"):
      npz_images(path)

  def test_fewer_images_than_an_ntk_batch_are_refused(self):
    path = self._write("five.npz", x=np.zeros((5, 32, 32, 3), np.uint8))
    info = dataset_info("cifar10")
    with self.assertRaisesRegex(ValueError, "an NTK batch of 72 images needs at least 72 "
                                            "distinct images; the image source holds 5"):
      ntk_batches(npz_images(path), info, 72, seed=0)
    unknown = npz_images(path).filter(lambda image: True)  # cardinality unknown: counted
    with self.assertRaisesRegex(ValueError, "the image source holds 5"):
      ntk_batches(unknown, info, 6, seed=0)
    next(iter(ntk_batches(unknown, info, 5, seed=0)))  # exactly one batch is enough

  @parameterized.named_parameters(
      ("float", np.zeros((2, 32, 32, 3), np.float32), r"dtype uint8 .*; got float32"),
      ("int64", np.zeros((2, 32, 32, 3), np.int64), r"dtype uint8 .*; got int64"),
      ("rank3", np.zeros((32, 32, 3), np.uint8), r"shape \[N, H, W, 3\]; got \(32, 32, 3\)"),
      ("gray", np.zeros((2, 32, 32, 1), np.uint8), r"\[N, H, W, 3\]; got \(2, 32, 32, 1\)"),
      ("chw", np.zeros((2, 3, 32, 32), np.uint8), r"\[N, H, W, 3\]; got \(2, 3, 32, 32\)"),
      ("empty", np.zeros((0, 32, 32, 3), np.uint8), r"at least one image; got shape \(0,"),
  )
  def test_bad_array(self, x, message):
    path = self._write("bad.npz", x=x)
    with self.assertRaisesRegex(ValueError, re.escape(repr(path)) + ".*" + message):
      npz_images(path)

  def test_sizes_differ(self):
    p1 = self._write("a.npz", x=np.zeros((1, 32, 32, 3), np.uint8))
    p2 = self._write("b.npz", x=np.zeros((1, 16, 16, 3), np.uint8))
    with self.assertRaisesRegex(ValueError, re.escape(repr(p2)) + r".*\(32, 32, 3\); "
                                r"got \(16, 16, 3\)"):
      npz_images([p1, p2])

  @parameterized.parameters(("",), (" , ",), ([],), (123,))
  def test_bad_paths(self, paths):
    with self.assertRaisesRegex(ValueError, r"data_npz must .*; got " + re.escape(repr(paths))):
      npz_images(paths)


class SyntheticTest(tf.test.TestCase, parameterized.TestCase):

  def test_seeded_numpy_generator(self):
    expected = np.random.default_rng(7).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    self.assertAllEqual(_all(synthetic_images(5, 8, seed=7)), expected)
    self.assertNotAllEqual(_all(synthetic_images(5, 8, seed=8)), expected)

  def test_load_images_synthetic(self):
    images = load_images("synthetic")
    self.assertEqual(images.element_spec, tf.TensorSpec([32, 32, 3], tf.uint8))
    self.assertEqual(int(images.cardinality()), 512)
    self.assertAllEqual(_all(load_images("synthetic", synthetic_count=4, seed=3)),
                        _all(synthetic_images(4, 32, seed=3)))

  @parameterized.parameters(("count", 0), ("count", 2.0), ("image_size", 0),
                            ("seed", -1), ("count", True))
  def test_bad_arguments(self, name, value):
    kwargs = dict(count=2, image_size=4, seed=0)
    kwargs[name] = value
    with self.assertRaisesRegex(ValueError, f"{name} must be an int >= .*; got {value!r}"):
      synthetic_images(**kwargs)


class TfdsTest(tf.test.TestCase):
  """TFDS with `mock_data`: random examples, no download, no files."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    cls.tfds = tfds

  def test_cifar10(self):
    with self.tfds.testing.mock_data(num_examples=6):
      images = load_images("cifar10")
      got = _all(images)
    self.assertEqual(images.element_spec, tf.TensorSpec([32, 32, 3], tf.uint8))
    self.assertEqual(got.shape, (6, 32, 32, 3))

  def test_imagenet16_120_keeps_first_120_classes(self):
    with self.tfds.testing.mock_data(num_examples=200):
      raw = list(self.tfds.load("imagenet_resized/16x16", split="train",
                                as_supervised=True).as_numpy_iterator())
      got = _all(tfds_images("imagenet16-120"))
    expected = np.stack([image for image, label in raw if label < 120])
    self.assertBetween(len(expected), 1, len(raw) - 1)  # mock labels span 0..999
    self.assertEqual(got.shape[1:], (16, 16, 3))
    self.assertAllEqual(got, expected)

  def test_no_tfds_counterpart(self):
    with self.assertRaisesRegex(ValueError, r"dataset must be one of \('cifar10', 'cifar100', "
                                r"'imagenet16-120', 'imagenet-1k'\) to load it from TFDS; "
                                r"got 'synthetic'"):
      tfds_images("synthetic")


if __name__ == "__main__":
  absltest.main()
