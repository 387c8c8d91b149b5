"""Tests of the ImageNet file sources: class folders and TFRecord shards of real JPEGs."""

import os
import re
import shutil
import tempfile

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np
from PIL import Image
import tensorflow as tf

from tenas_tf.data import (dataset_info, decode_and_resize, image_folder_classes,
                           image_folder_images, linear_region_batches, load_images, ntk_batches,
                           tfrecord_files, tfrecord_images)
from tests import testing_utils

# 20 real ILSVRC2012 JPEGs (19 of 512x512, one of 1024x683), see its README.md.
_SAMPLES = testing_utils.shared_dir() / "data" / "imagenet_samples"


def _all(images):
  return np.stack(list(images.as_numpy_iterator()))


def _expected(encoded, size=32):
  """The truth, computed here: decode, resize with antialiasing, round half to even, clip."""
  image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
  resized = tf.image.resize(image, [size, size], method="bilinear", antialias=True).numpy()
  return np.clip(np.rint(resized), 0, 255).astype(np.uint8)


def _encoded_image(height, width, seed, fmt="jpeg"):
  """A smooth random image (gradients plus noise), encoded by TensorFlow."""
  rng = np.random.default_rng(seed)
  rows = np.linspace(0, 1, height)[:, None, None]
  cols = np.linspace(0, 1, width)[None, :, None]
  pixels = 255 * (rows * rng.random(3) + cols * rng.random(3)) / 2
  pixels = np.clip(pixels + rng.normal(0, 20, (height, width, 3)), 0, 255).astype(np.uint8)
  encode = tf.io.encode_png if fmt == "png" else tf.io.encode_jpeg
  return encode(pixels).numpy()


def _write(path, data):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "wb") as stream:
    stream.write(data)


def _write_tfrecord(path, items):
  """Writes (encoded, label) pairs as tf.train.Examples with the converters' feature names."""
  with tf.io.TFRecordWriter(path) as writer:
    for encoded, label in items:
      feature = {
          "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
          "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
          "image/format": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"JPEG"])),
      }
      example = tf.train.Example(features=tf.train.Features(feature=feature))
      writer.write(example.SerializeToString())


class _TempDirTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    tmp = tempfile.TemporaryDirectory()
    self.addCleanup(tmp.cleanup)
    self.tmp = tmp.name

  def make_folder(self):
    """An image folder of test-encoded images; returns (root, [(bytes, label)] in file order)."""
    root = os.path.join(self.tmp, "train")
    # Written in an order that differs from the sorted one: classes ant < bee < cat.
    layout = {
        "cat": [("b.jpg", (40, 57)), ("a.JPEG", (33, 33))],
        "ant": [("z.png", (64, 48)), ("y.jpeg", (31, 90)), ("sub/x.jpg", (35, 36))],
        "bee": [("m.JPG", (100, 75))],
    }
    files = {}
    for seed, (name, entries) in enumerate(sorted(layout.items(), reverse=True)):
      for index, (file_name, (height, width)) in enumerate(entries):
        fmt = "png" if file_name.endswith(".png") else "jpeg"
        data = _encoded_image(height, width, seed=10 * seed + index, fmt=fmt)
        _write(os.path.join(root, name, file_name), data)
        files[(name, file_name)] = data
    _write(os.path.join(root, "ant", "notes.txt"), b"not an image")  # ignored
    order = [("ant", "y.jpeg"), ("ant", "z.png"), ("ant", "sub/x.jpg"), ("bee", "m.JPG"),
             ("cat", "a.JPEG"), ("cat", "b.jpg")]
    labels = {"ant": 0, "bee": 1, "cat": 2}
    return root, [(files[key], labels[key[0]]) for key in order]


class DecodeAndResizeTest(_TempDirTest):

  @absltest.skipIf(not _SAMPLES.is_dir(), f"ImageNet samples not found in {_SAMPLES}")
  def test_matches_pil_bilinear_resize_of_the_reference(self):
    # torchvision's Resize((32, 32)) on a PIL image is PIL's antialiased BILINEAR resize.
    for path in sorted(_SAMPLES.glob("*.jpg")):
      encoded = path.read_bytes()
      got = decode_and_resize(tf.constant(encoded), 32).numpy()
      self.assertEqual(got.dtype, np.uint8)
      self.assertAllEqual(got, _expected(encoded))
      decoded = tf.io.decode_jpeg(encoded, channels=3).numpy()
      pil = np.asarray(Image.fromarray(decoded).resize((32, 32), Image.BILINEAR))
      self.assertLessEqual(np.abs(got.astype(int) - pil.astype(int)).max(), 1, path.name)

  def test_grey_png_and_identity(self):
    grey = np.random.default_rng(0).integers(0, 256, (20, 30, 1), dtype=np.uint8)
    got = decode_and_resize(tf.io.encode_png(grey), 16).numpy()
    self.assertEqual(got.shape, (16, 16, 3))
    self.assertAllEqual(got[..., 0], got[..., 2])
    same = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    self.assertAllEqual(decode_and_resize(tf.io.encode_png(same), 32), same)


class ImageFolderTest(_TempDirTest):

  def test_sorted_classes_files_and_resized_images(self):
    root, items = self.make_folder()
    self.assertEqual(image_folder_classes(root), ("ant", "bee", "cat"))
    pairs = list(image_folder_images(root, with_labels=True).as_numpy_iterator())
    self.assertLen(pairs, len(items))
    for (image, label), (encoded, expected_label) in zip(pairs, items):
      self.assertEqual(image.shape, (32, 32, 3))
      self.assertEqual(image.dtype, np.uint8)
      self.assertAllEqual(image, _expected(encoded))
      self.assertEqual(label, expected_label)
    images = image_folder_images(root, 16)
    self.assertEqual(images.element_spec, tf.TensorSpec([16, 16, 3], tf.uint8))
    self.assertAllEqual(_all(images), np.stack([_expected(e, 16) for e, _ in items]))

  @absltest.skipIf(not _SAMPLES.is_dir(), f"ImageNet samples not found in {_SAMPLES}")
  def test_real_imagenet_jpegs_in_three_classes(self):
    root = os.path.join(self.tmp, "train")
    samples = sorted(_SAMPLES.glob("imagenet_*.jpg"))
    self.assertLen(samples, 20)
    expected = {0: [], 1: [], 2: []}
    for index, path in enumerate(samples):
      label = index % 3
      folder = os.path.join(root, f"n0{label}")
      os.makedirs(folder, exist_ok=True)
      shutil.copy(path, os.path.join(folder, path.name))
      expected[label].append(path.read_bytes())
    pairs = list(image_folder_images(root, with_labels=True).as_numpy_iterator())
    flat = [(encoded, label) for label in range(3) for encoded in expected[label]]
    self.assertLen(pairs, 20)
    for (image, label), (encoded, expected_label) in zip(pairs, flat):
      self.assertEqual(label, expected_label)
      self.assertAllEqual(image, _expected(encoded))

  def test_shuffle_seed_permutes_files(self):
    root, items = self.make_folder()
    truth = np.stack([_expected(e) for e, _ in items])
    order = np.random.default_rng(4).permutation(len(items))
    self.assertAllEqual(_all(image_folder_images(root, shuffle_seed=4)), truth[order])
    self.assertAllEqual(_all(load_images("imagenet-1k", image_dir=root, seed=4)), truth[order])
    self.assertAllEqual(_all(load_images("imagenet-1k", image_dir=root, seed=4, max_images=2)),
                        truth[order[:2]])

  def test_missing_root(self):
    missing = os.path.join(self.tmp, "nope")
    with self.assertRaisesRegex(ValueError, re.escape(repr(missing)) + " does not exist"):
      image_folder_images(missing)

  def test_no_class_folder(self):
    _write(os.path.join(self.tmp, "flat.jpg"), _encoded_image(8, 8, 0))
    with self.assertRaisesRegex(ValueError, re.escape(repr(self.tmp)) +
                                " must hold one sub-folder of images per class; got no"):
      load_images("imagenet-1k", image_dir=self.tmp)

  def test_empty_class_folder_is_named(self):
    root, _ = self.make_folder()
    os.makedirs(os.path.join(root, "dog"))
    _write(os.path.join(root, "dog", "readme.txt"), b"no image")
    folder = os.path.join(root, "dog")
    with self.assertRaisesRegex(ValueError, "class folder " + re.escape(repr(folder)) +
                                " of image_dir holds no image file"):
      image_folder_images(root)

  @parameterized.parameters(0, -1, 2.5, True)
  def test_bad_max_images(self, max_images):
    root, _ = self.make_folder()
    with self.assertRaisesRegex(ValueError, r"max_images must be None or an int >= 1; got " +
                                re.escape(repr(max_images))):
      image_folder_images(root, max_images=max_images)


class TfrecordTest(_TempDirTest):

  def test_same_images_and_labels_as_the_folder(self):
    root, items = self.make_folder()
    shards = os.path.join(self.tmp, "shards")
    os.makedirs(shards)
    _write_tfrecord(os.path.join(shards, "train-00000-of-00002"), items[:4])
    _write_tfrecord(os.path.join(shards, "train-00001-of-00002"), items[4:])
    pattern = os.path.join(shards, "train-*")
    folder = list(image_folder_images(root, with_labels=True).as_numpy_iterator())
    records = list(tfrecord_images(pattern, with_labels=True).as_numpy_iterator())
    self.assertLen(records, len(folder))
    for (image, label), (folder_image, folder_label) in zip(records, folder):
      self.assertAllEqual(image, folder_image)
      self.assertEqual(label, folder_label)
    images = load_images("imagenet-1k", tfrecords=pattern)
    self.assertEqual(images.element_spec, tf.TensorSpec([32, 32, 3], tf.uint8))
    self.assertAllEqual(_all(images), np.stack([_expected(e) for e, _ in items]))
    # Comma-separated and list forms, in the order given.
    first, second = sorted(tf.io.gfile.glob(pattern))
    self.assertEqual(tfrecord_files(f"{second} , {first}"), [second, first])
    self.assertAllEqual(_all(tfrecord_images([second, first])),
                        np.stack([_expected(e) for e, _ in items[4:] + items[:4]]))

  def test_label_missing_reads_minus_one(self):
    path = os.path.join(self.tmp, "x.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
      encoded = _encoded_image(20, 20, 0)
      feature = {"image/encoded": tf.train.Feature(
          bytes_list=tf.train.BytesList(value=[encoded]))}
      writer.write(tf.train.Example(
          features=tf.train.Features(feature=feature)).SerializeToString())
    (image, label), = tfrecord_images(path, with_labels=True).as_numpy_iterator()
    self.assertEqual(label, -1)
    self.assertAllEqual(image, _expected(encoded))

  def test_no_file_matches(self):
    pattern = os.path.join(self.tmp, "train-*")
    with self.assertRaisesRegex(ValueError, "tfrecords pattern " + re.escape(repr(pattern)) +
                                " matches no file"):
      load_images("imagenet-1k", tfrecords=pattern)

  @parameterized.parameters(("",), (" , ",), ([],), (7,))
  def test_bad_paths(self, paths):
    with self.assertRaisesRegex(ValueError, r"tfrecords must .*; got " + re.escape(repr(paths))):
      tfrecord_files(paths)

  def test_one_source_at_most(self):
    with self.assertRaisesRegex(ValueError, r"give at most one image source of --data_npz, "
                                r"--image_dir, --tfrecords, --manual_dir; got --image_dir=" +
                                re.escape(f"{self.tmp} and --tfrecords={self.tmp}")):
      load_images("imagenet-1k", image_dir=self.tmp, tfrecords=self.tmp)


class PipelinesOnImagenetTest(_TempDirTest):

  def test_ntk_and_linear_region_batches(self):
    root, items = self.make_folder()
    info = dataset_info("imagenet-1k")
    images = load_images(info, image_dir=root)
    ntk, = list(ntk_batches(images, info, batch_size=4, seed=0).take(1).as_numpy_iterator())
    self.assertEqual(ntk.shape, (4, 32, 32, 3))
    self.assertEqual(ntk.dtype, np.float32)
    lr, = list(linear_region_batches(images, info, batch_size=50, seed=0).take(1)
               .as_numpy_iterator())
    self.assertEqual(lr.shape, (50, 3, 3, 1))
    # Every 3x3 sample is a window of one channel of one resized image, normalised with
    # torchvision's ImageNet statistics (written here, independently of the package).
    mean = np.array([0.485, 0.456, 0.406])
    std = np.array([0.229, 0.224, 0.225])
    windows = []
    for encoded, _ in items:
      normalised = (_expected(encoded) / 255 - mean) / std
      for top in range(30):
        for left in range(30):
          for channel in range(3):
            windows.append(normalised[top:top + 3, left:left + 3, channel])
    windows = np.stack(windows)
    for sample in lr:
      self.assertTrue(np.isclose(windows, sample[..., 0], **testing_utils.tolerance()).all(
          axis=(1, 2)).any())


if __name__ == "__main__":
  absltest.main()
