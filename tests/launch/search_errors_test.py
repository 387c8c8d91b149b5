"""Bad input to the search binary: a clear message naming the value, exit code 1, no traceback.

These cases are the README's table of handled errors. Values absl checks itself (enums, bounds)
are refused while the flags are parsed, with the flag and the value named; the rest by the
library.
"""

import os
import tempfile

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np

from tenas_tf.launch import search as search_binary
from tests import testing_utils

TINY = ["--space=nb201", "--dataset=synthetic", "--synthetic_count=16", "--ntk_batch_size=4",
        "--lr_batch_size=10", "--lr_batches=1", "--repeats=1"]


class SearchErrorsTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = self.enter_context(tempfile.TemporaryDirectory())
    self.run_dir = os.path.join(self.tmp, "run")

  def _npz(self, name, **arrays):
    path = os.path.join(self.tmp, name)
    np.savez(path, **arrays)
    return path

  def assert_user_error(self, argv, *fragments):
    code, message = testing_utils.run_main(
        search_binary, TINY + [f"--run_dir={self.run_dir}"] + argv)
    self.assertEqual(code, 1, message)
    self.assertNotIn("Traceback", message)
    for fragment in fragments:
      self.assertIn(fragment, message)

  def test_unknown_space(self):
    self.assert_user_error(["--space=darts2"], "--space=darts2", "value should be one of "
                           "<nb201|darts>")

  def test_unknown_dataset(self):
    self.assert_user_error(["--dataset=mnist"], "--dataset=mnist",
                           "<cifar10|cifar100|imagenet16-120|imagenet-1k|synthetic>")

  def test_ntk_batch_size_below_two(self):
    self.assert_user_error(["--ntk_batch_size=1"], "--ntk_batch_size=1", "1 is not integer >= 2")

  def test_repeats_below_one(self):
    self.assert_user_error(["--repeats=0"], "--repeats=0", "0 is not a positive integer")

  def test_prune_number_that_would_empty_an_edge(self):
    self.assert_user_error(["--prune_number=4"], "prune_number must be below the 4 ops", "got 4")

  def test_missing_npz_file(self):
    missing = os.path.join(self.tmp, "nope.npz")
    self.assert_user_error([f"--data_npz={missing}", "--dataset=cifar10"], missing,
                           "does not exist")

  def test_npz_without_images(self):
    path = self._npz("labels.npz", y=np.zeros(3))
    self.assert_user_error([f"--data_npz={path}", "--dataset=cifar10"], path, "key 'x'")

  def test_npz_with_float_images(self):
    path = self._npz("float.npz", x=np.zeros((4, 32, 32, 3), np.float32))
    self.assert_user_error([f"--data_npz={path}", "--dataset=cifar10"], "uint8", "float32")

  def test_npz_with_wrong_image_shape(self):
    path = self._npz("gray.npz", x=np.zeros((4, 32, 32), np.uint8))
    self.assert_user_error([f"--data_npz={path}", "--dataset=cifar10"], "(4, 32, 32)")

  def test_npz_with_no_images(self):
    path = self._npz("empty.npz", x=np.zeros((0, 32, 32, 3), np.uint8))
    self.assert_user_error([f"--data_npz={path}", "--dataset=cifar10"], "at least one image")

  def test_images_of_another_size_than_the_dataset(self):
    path = self._npz("small.npz", x=np.zeros((4, 16, 16, 3), np.uint8))
    self.assert_user_error([f"--data_npz={path}", "--dataset=cifar10"], "(16, 16, 3)",
                           "(32, 32, 3)")

  @parameterized.named_parameters(
      ("image_dir", "--image_dir", "cifar10"), ("tfrecords", "--tfrecords", "synthetic"),
      ("manual_dir", "--manual_dir", "imagenet16-120"))
  def test_imagenet_source_with_another_dataset(self, flag, dataset):
    self.assert_user_error([f"{flag}={self.tmp}", f"--dataset={dataset}"],
                           f"{flag} reads ImageNet-1k and needs --dataset=imagenet-1k",
                           f"got --dataset={dataset}")

  @parameterized.named_parameters(
      ("image_dir_and_tfrecords", "--image_dir", "--tfrecords"),
      ("image_dir_and_manual_dir", "--image_dir", "--manual_dir"),
      ("npz_and_tfrecords", "--data_npz", "--tfrecords"))
  def test_two_image_sources(self, first, second):
    a, b = os.path.join(self.tmp, "a"), os.path.join(self.tmp, "b")
    self.assert_user_error(["--dataset=imagenet-1k", f"{first}={a}", f"{second}={b}"],
                           "give at most one image source of --data_npz, --image_dir, "
                           "--tfrecords, --manual_dir", f"got {first}={a} and {second}={b}")

  def test_max_images_below_one(self):
    self.assert_user_error(["--max_images=0"], "--max_images=0", "0 is not a positive integer")

  @parameterized.named_parameters(("npz", True), ("synthetic", False))
  def test_cache_dir_without_a_file_source(self, with_npz):
    cache = os.path.join(self.tmp, "cache")
    npz = self._npz("a.npz", x=np.zeros((4, 32, 32, 3), np.uint8))
    other = [f"--data_npz={npz}", "--dataset=cifar10"] if with_npz else []
    self.assert_user_error([f"--cache_dir={cache}"] + other,
                           "--cache_dir caches the decoded images of --image_dir, --tfrecords "
                           "or TFDS", f"got --cache_dir={cache} with " +
                           (f"--data_npz={npz}" if with_npz else "--dataset=synthetic"))

  @parameterized.named_parameters(("image_dir", "image_dir"), ("manual_dir", "manual_dir"))
  def test_missing_imagenet_folder(self, flag):
    missing = os.path.join(self.tmp, "nope")
    self.assert_user_error(["--dataset=imagenet-1k", f"--{flag}={missing}"],
                           f"{flag} {missing!r} does not exist or is not a directory")

  def test_tfrecords_pattern_without_files(self):
    pattern = os.path.join(self.tmp, "train-*")
    self.assert_user_error(["--dataset=imagenet-1k", f"--tfrecords={pattern}"],
                           f"tfrecords pattern {pattern!r} matches no file")

  def test_image_folder_without_class_folders(self):
    flat = os.path.join(self.tmp, "flat")
    os.makedirs(flat)
    with open(os.path.join(flat, "a.jpg"), "wb") as stream:
      stream.write(b"\xff\xd8")
    self.assert_user_error(["--dataset=imagenet-1k", f"--image_dir={flat}"],
                           f"image_dir {flat!r} must hold one sub-folder of images per class")

  def test_table_without_needed_columns(self):
    path = os.path.join(self.tmp, "table.csv")
    with open(path, "w") as stream:
      stream.write("arch_str,cifar10_test_acc\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,10\n")
    self.assert_user_error([f"--nb201_table={path}"], path, "cifar100_test_acc")

  def test_missing_table(self):
    path = os.path.join(self.tmp, "missing.csv")
    self.assert_user_error([f"--nb201_table={path}"], path, "does not exist")

  def test_unwritable_run_dir(self):
    blocker = os.path.join(self.tmp, "a_file")
    with open(blocker, "w") as stream:
      stream.write("not a folder")
    code, message = testing_utils.run_main(search_binary, TINY + [f"--run_dir={blocker}/run"])
    self.assertEqual(code, 1)
    self.assertIn(f"{blocker}/run", message)
    self.assertIn("not a writable directory", message)


if __name__ == "__main__":
  absltest.main()
