"""ImageNet-1k retraining data: labelled folders, random-resized crops, centre crops, resumption."""

import os
import tempfile

from absl.testing import absltest
import numpy as np
import tensorflow as tf

from tenas_tf.data import (check_files, dataset_info, image_folder_examples,
                           imagenet_eval_batches, imagenet_train_batches)

INFO = dataset_info("imagenet-1k")
# One solid colour per class: any crop, resize or flip of an image keeps its colour, so a
# batch's pixels tell which class each image came from.
COLOURS = {"n01": (255, 0, 0), "n02": (0, 255, 0), "n03": (0, 0, 255)}


def write_image_folder(root, sizes_per_class=((20, 50), (41, 23), (64, 64)), colours=COLOURS):
  """Writes `root/<class>/<i>.png`, solid-coloured images of the given (height, width)."""
  for name, colour in colours.items():
    os.makedirs(os.path.join(root, name))
    for index, (height, width) in enumerate(sizes_per_class):
      pixels = np.broadcast_to(np.array(colour, np.uint8), (height, width, 3))
      tf.io.write_file(os.path.join(root, name, f"{index}.png"), tf.io.encode_png(pixels))
  return root


def _normalised(colour):
  return (np.array(colour) / 255.0 - np.array(INFO.mean)) / np.array(INFO.std)


def _class_of_pixels(images):
  """The class whose normalised colour every pixel of each image has (asserts a match)."""
  classes = []
  for image in images:
    matches = [label for label, colour in enumerate(COLOURS.values())
               if np.allclose(image, _normalised(colour), atol=1e-4)]
    assert len(matches) == 1, image[0, 0]
    classes.append(matches[0])
  return classes


class ImageNetDataTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.root = write_image_folder(os.path.join(self.enter_context(
        tempfile.TemporaryDirectory()), "train"))

  def test_batches_pair_each_crop_with_its_label_and_are_a_function_of_the_step(self):
    paths, labels = image_folder_examples(self.root, INFO.num_classes)
    self.assertEqual(labels.tolist(), [0, 0, 0, 1, 1, 1, 2, 2, 2])
    batches = list(imagenet_train_batches(paths, labels, INFO, 12, 4, seed=5).take(4))
    seen = []
    for images, one_hot in batches:
      self.assertEqual((images.shape, one_hot.shape), ((4, 12, 12, 3), (4, 1000)))
      self.assertEqual(_class_of_pixels(images.numpy()), np.argmax(one_hot, 1).tolist())
      seen.extend(np.argmax(one_hot, 1).tolist())
    self.assertEqual(sorted(set(seen)), [0, 1, 2])  # shuffled passes over every class
    resumed = list(imagenet_train_batches(paths, labels, INFO, 12, 4, seed=5,
                                          start_step=2).take(2))
    for (a, la), (b, lb) in zip(batches[2:], resumed):
      np.testing.assert_array_equal(a.numpy(), b.numpy())
      np.testing.assert_array_equal(la.numpy(), lb.numpy())
    other = next(iter(imagenet_train_batches(paths, labels, INFO, 12, 4, seed=6)))
    self.assertFalse(np.array_equal(other[1].numpy(), batches[0][1].numpy()))

  def test_crops_vary_in_area_and_are_flipped(self):
    # One 64x64 image: left half black, right half white. A random-resized crop shows varying
    # shares of white; a flip mirrors it (white on the left).
    root = os.path.join(self.enter_context(tempfile.TemporaryDirectory()), "halves")
    os.makedirs(os.path.join(root, "n01"))
    pixels = np.zeros((64, 64, 3), np.uint8)
    pixels[:, 32:] = 255
    tf.io.write_file(os.path.join(root, "n01", "0.png"), tf.io.encode_png(pixels))
    paths, labels = image_folder_examples(root, INFO.num_classes)
    images = np.concatenate([x.numpy() for x, _ in imagenet_train_batches(
        paths, labels, INFO, 16, 1, seed=0).take(40)])
    white = images[..., 0] > 0
    shares = white.mean(axis=(1, 2))
    self.assertGreater(shares.std(), 0.05)
    left_white = white[:, :, 0].mean(1) > white[:, :, -1].mean(1)
    self.assertBetween(left_white.mean(), 0.2, 0.8)

  def test_held_out_images_are_centre_cropped_in_order(self):
    # 16 = round(14 * 256 / 224): no resize; a red 1-pixel border falls outside the centre 14x14.
    root = os.path.join(self.enter_context(tempfile.TemporaryDirectory()), "val")
    os.makedirs(os.path.join(root, "n01"))
    pixels = np.zeros((16, 16, 3), np.uint8)
    pixels[...] = (0, 0, 255)
    pixels[0, :] = pixels[-1, :] = pixels[:, 0] = pixels[:, -1] = (255, 0, 0)
    tf.io.write_file(os.path.join(root, "n01", "0.png"), tf.io.encode_png(pixels))
    paths, labels = image_folder_examples(root, INFO.num_classes)
    (images, one_hot), = list(imagenet_eval_batches(paths, labels, INFO, 14, 8))
    self.assertEqual(images.shape, (1, 14, 14, 3))
    np.testing.assert_allclose(images.numpy()[0], np.broadcast_to(_normalised((0, 0, 255)),
                                                                  (14, 14, 3)), atol=1e-5)
    paths, labels = image_folder_examples(self.root, INFO.num_classes)
    batches = list(imagenet_eval_batches(paths, labels, INFO, 8, 4))
    self.assertEqual([len(x) for x, _ in batches], [4, 4, 1])
    classes = [c for x, _ in batches for c in _class_of_pixels(x.numpy())]
    self.assertEqual(classes, labels.tolist())

  def test_folders_and_arguments_are_checked(self):
    with self.assertRaisesRegex(ValueError, "must hold the 2 classes of the training folder.*"
                                            r"extra e.g. \['n03'\]"):
      image_folder_examples(self.root, 1000, classes=("n01", "n02"))
    with self.assertRaisesRegex(ValueError, r"labels of image folder .* must lie in \[0, 2\); "
                                            "got 2"):
      image_folder_examples(self.root, 2)
    paths, labels = image_folder_examples(self.root, 1000)
    with self.assertRaisesRegex(ValueError, r"batch_size must be an int in \[1, 9\] \(at most "
                                            r"the number of training examples\); got 10"):
      imagenet_train_batches(paths, labels, INFO, 8, 10, seed=0)
    with self.assertRaisesRegex(ValueError, "labels of x must be 9 integers, one per file"):
      check_files(paths, labels[:3], 1000, "x")


if __name__ == "__main__":
  absltest.main()
