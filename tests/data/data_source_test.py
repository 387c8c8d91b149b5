"""DataSource: one identity per set of images, however a path is spelled; one-line errors."""

import contextlib
import dataclasses
import os
import re
import tempfile

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np

from tenas_tf.data import DataSource


def _all(images):
  return np.stack(list(images.as_numpy_iterator()))


class _TempDirTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    # realpath: the truth below is spelled without symlinks (e.g. macOS's /tmp -> /private/tmp).
    self.tmp = os.path.realpath(self.enter_context(tempfile.TemporaryDirectory()))

  def _npz(self, name, count=3, seed=0, size=32):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)
    y = rng.integers(0, 10, count)
    path = os.path.join(self.tmp, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.savez(path, x=x, y=y)
    return path, x, y


class IdentityTest(_TempDirTest):

  def test_spellings_of_one_npz_give_one_identity_and_the_same_images(self):
    path, x, _ = self._npz("data/a.npz")
    os.symlink(os.path.join(self.tmp, "data"), os.path.join(self.tmp, "linked_dir"))
    os.symlink(path, os.path.join(self.tmp, "linked.npz"))
    os.makedirs(os.path.join(self.tmp, "other"))
    self.enter_context(contextlib.chdir(os.path.join(self.tmp, "other")))
    spellings = [path, "../data/a.npz", "./../data/a.npz", f"{self.tmp}/other/../data//a.npz",
                 "../linked_dir/a.npz", "../linked.npz", [path], f" {path} ", (path,)]
    sources = [DataSource("cifar10", data_npz=spelling) for spelling in spellings]
    # The truth, spelled here: the file's absolute path without links or "..".
    expected = f"npz:{path};dataset=cifar10"
    self.assertEqual({source.identity for source in sources}, {expected})
    self.assertEqual({source.data_npz for source in sources}, {(path,)})
    np.testing.assert_array_equal(_all(sources[1].images()), x)
    # The identity does not depend on the working directory it was made in.
    self.enter_context(contextlib.chdir(self.tmp))
    self.assertEqual(DataSource("cifar10", data_npz="data/a.npz").identity, expected)
    self.assertNotEqual(DataSource("cifar10", data_npz="other/a.npz").identity, expected)

  def test_different_files_order_and_options_give_different_identities(self):
    a, _, _ = self._npz("a.npz", seed=1)
    b, _, _ = self._npz("b.npz", seed=2)
    identities = [
        DataSource("cifar10", data_npz=a).identity,
        DataSource("cifar10", data_npz=b).identity,
        DataSource("cifar10", data_npz=f"{a},{b}").identity,
        DataSource("cifar10", data_npz=[b, a]).identity,
        DataSource("cifar10", data_npz=a, max_images=2).identity,
        DataSource("cifar100", data_npz=a).identity,
        DataSource("synthetic", synthetic_count=64, seed=0).identity,
        DataSource("synthetic", synthetic_count=64, seed=1).identity,
        DataSource("synthetic", synthetic_count=32, seed=0).identity,
        DataSource("cifar10").identity,
        DataSource("cifar10", split="test").identity,
        DataSource("imagenet-1k", image_dir=self.tmp).identity,
        DataSource("imagenet-1k", image_dir=self.tmp, seed=1).identity,
        DataSource("imagenet-1k", tfrecords=os.path.join(self.tmp, "*")).identity,
    ]
    self.assertLen(set(identities), len(identities))
    self.assertEqual(identities[2], f"npz:{a},{b};dataset=cifar10")
    self.assertEqual(identities[4], f"npz:{a};dataset=cifar10;max_images=2")
    self.assertEqual(identities[6], "synthetic:64;dataset=synthetic;seed=0")
    self.assertEqual(identities[9], "tfds:cifar10;dataset=cifar10;split=train")
    self.assertEqual(identities[12], f"image_dir:{self.tmp};dataset=imagenet-1k;seed=1")

  def test_where_files_are_kept_is_not_part_of_the_identity(self):
    self.enter_context(contextlib.chdir(self.tmp))
    plain = DataSource("imagenet-1k", image_dir="train")
    kept = DataSource("imagenet-1k", image_dir="train", cache_dir="cache", data_dir="tfds")
    self.assertEqual(plain.identity, kept.identity)
    self.assertEqual(kept.cache_dir, os.path.join(self.tmp, "cache"))
    self.assertEqual(kept.data_dir, os.path.join(self.tmp, "tfds"))
    self.assertEqual(DataSource("imagenet-1k").identity,
                     DataSource("imagenet-1k", manual_dir="tars", cache_dir="c").identity)

  def test_tfrecord_patterns_stay_patterns_made_absolute(self):
    os.makedirs(os.path.join(self.tmp, "real"))
    os.symlink(os.path.join(self.tmp, "real"), os.path.join(self.tmp, "link"))
    self.enter_context(contextlib.chdir(self.tmp))
    source = DataSource("imagenet-1k", tfrecords="link/train-*, ./real/val-0000?")
    self.assertEqual(source.tfrecords, (os.path.join(self.tmp, "real", "train-*"),
                                        os.path.join(self.tmp, "real", "val-0000?")))
    remote = DataSource("imagenet-1k", tfrecords="gs://bucket/train-*")
    self.assertEqual(remote.identity, "tfrecords:gs://bucket/train-*;dataset=imagenet-1k")

  def test_value_is_frozen(self):
    source = DataSource("synthetic")
    with self.assertRaises(dataclasses.FrozenInstanceError):
      source.seed = 3


class LoadTest(_TempDirTest):

  def test_npz_images_and_examples_are_the_file_contents(self):
    a, xa, ya = self._npz("a.npz", count=3, seed=1)
    b, xb, yb = self._npz("b.npz", count=2, seed=2)
    source = DataSource("cifar10", data_npz=[a, b])
    np.testing.assert_array_equal(_all(source.images()), np.concatenate([xa, xb]))
    images, labels = source.examples()
    np.testing.assert_array_equal(images, np.concatenate([xa, xb]))
    np.testing.assert_array_equal(labels, np.concatenate([ya, yb]))
    first = DataSource("cifar10", data_npz=[a, b], max_images=4)
    np.testing.assert_array_equal(_all(first.images()), np.concatenate([xa, xb])[:4])
    np.testing.assert_array_equal(first.examples()[1], np.concatenate([ya, yb])[:4])

  def test_synthetic_images_and_examples_come_from_one_seeded_generator(self):
    source = DataSource("synthetic", synthetic_count=5, seed=7)
    rng = np.random.default_rng(7)
    truth = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_array_equal(_all(source.images()), truth)
    images, labels = source.examples()
    np.testing.assert_array_equal(images, truth)
    np.testing.assert_array_equal(labels, rng.integers(0, 10, size=5))

  def test_examples_refused_where_training_cannot_use_them(self):
    path, _, _ = self._npz("a.npz")
    with self.assertRaisesRegex(ValueError, "--tfrecords hold indicator images only"):
      DataSource("imagenet-1k", tfrecords=path).examples()
    with self.assertRaisesRegex(ValueError, "classes applies to --image_dir examples only"):
      DataSource("cifar10", data_npz=path).examples(classes=("a",))
    with self.assertRaisesRegex(ValueError, "--max_images samples the indicator images of "
                                "--image_dir; training reads every file; got --max_images=3"):
      DataSource("imagenet-1k", image_dir=self.tmp, max_images=3).examples()

  def test_images_of_another_size_than_the_dataset(self):
    path, _, _ = self._npz("small.npz", size=16)
    with self.assertRaisesRegex(ValueError, r"images of dataset 'cifar10' \(--data_npz=" +
                                re.escape(path) + r"\) must have shape \(32, 32, 3\); "
                                r"got \(16, 16, 3\)"):
      DataSource("cifar10", data_npz=path).images()


class ErrorsTest(_TempDirTest):

  @parameterized.named_parameters(
      ("dataset", dict(dataset="mnist"), r"--dataset must be one of \(.*\); got 'mnist'"),
      ("empty_npz", dict(data_npz=" , "), r"--data_npz must name at least one .npz file; "
                                          r"got ' , '"),
      ("npz_not_path", dict(data_npz=123), r"--data_npz must be a path, .*; got 123"),
      ("npz_list_of_ints", dict(data_npz=[1]), r"--data_npz must be a path, .*; got \[1\]"),
      ("two_sources", dict(dataset="imagenet-1k", image_dir="/a", manual_dir="/b"),
       r"give at most one image source of --data_npz, --image_dir, --tfrecords, --manual_dir; "
       r"got --image_dir=/a and --manual_dir=/b"),
      ("image_dir_of_cifar", dict(image_dir="/a"),
       r"--image_dir reads ImageNet-1k and needs --dataset=imagenet-1k; got --dataset=cifar10"),
      ("tfrecords_of_synthetic", dict(dataset="synthetic", tfrecords="/a/*"),
       r"--tfrecords reads ImageNet-1k .*; got --dataset=synthetic"),
      ("manual_dir_of_imagenet16", dict(dataset="imagenet16-120", manual_dir="/a"),
       r"--manual_dir reads ImageNet-1k .*; got --dataset=imagenet16-120"),
      ("image_dir_list", dict(dataset="imagenet-1k", image_dir=["/a", "/b"]),
       r"--image_dir must be a non-empty path; got \['/a', '/b'\]"),
      ("image_dir_empty", dict(dataset="imagenet-1k", image_dir=""),
       r"--image_dir must be a non-empty path; got ''"),
      ("cache_dir_with_npz", dict(data_npz="/a.npz", cache_dir="/c"),
       r"--cache_dir caches the decoded images of --image_dir, --tfrecords or TFDS; got "
       r"--cache_dir=/c with --data_npz=/a.npz"),
      ("cache_dir_with_synthetic", dict(dataset="synthetic", cache_dir="/c"),
       r"--cache_dir caches .*; got --cache_dir=/c with --dataset=synthetic"),
      ("synthetic_count", dict(dataset="synthetic", synthetic_count=0),
       r"--synthetic_count must be an int >= 1; got 0"),
      ("seed_negative", dict(seed=-1), r"--seed must be an int >= 0; got -1"),
      ("seed_float", dict(seed=1.5), r"--seed must be an int >= 0; got 1.5"),
      ("max_images", dict(max_images=0), r"--max_images must be None or an int >= 1; got 0"),
      ("max_images_bool", dict(max_images=True), r"--max_images must be None or an int >= 1; "
                                                 r"got True"),
      ("split_empty", dict(split=""), r"--split must be a TFDS split name such as 'train'; got ''"),
      ("split_with_npz", dict(data_npz="/a.npz", split="test"),
       r"--split applies to TFDS images only; got --split=test with --data_npz=/a.npz"),
  )
  def test_bad_input_is_one_line_naming_the_argument(self, kwargs, message):
    kwargs = dict(dict(dataset="cifar10"), **kwargs)
    with self.assertRaisesRegex(ValueError, message) as raised:
      DataSource(**kwargs)
    self.assertNotIn("\n", str(raised.exception))

  @parameterized.named_parameters(("npz", "data_npz"), ("image_dir", "image_dir"),
                                  ("tfrecords", "tfrecords"))
  def test_missing_files_are_named_when_loading(self, argument):
    missing = os.path.join(self.tmp, "nope")
    message = {"data_npz": f"data_npz file {missing!r} does not exist",
               "image_dir": f"image_dir {missing!r} does not exist or is not a directory",
               "tfrecords": f"tfrecords pattern {missing!r} matches no file"}[argument]
    dataset = "cifar10" if argument == "data_npz" else "imagenet-1k"
    with self.assertRaisesRegex(ValueError, re.escape(message)) as raised:
      DataSource(dataset, **{argument: missing}).images()
    self.assertNotIn("\n", str(raised.exception))


if __name__ == "__main__":
  absltest.main()
