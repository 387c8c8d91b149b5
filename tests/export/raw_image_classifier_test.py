"""RawImageClassifier: the exported input contract (raw uint8 images), against the training
normalisation written out in numpy; its config and file round trips; its errors."""

import os
import tempfile

from absl.testing import absltest
import keras
import numpy as np

from tenas_tf import export
from tenas_tf.data import dataset_info
from tenas_tf.spaces import NB201Network
from tests import testing_utils

ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|"
INFO = dataset_info("cifar100")


def _network(image_size=16):
  net = NB201Network(ARCH, num_classes=5, channels=2, cells_per_stage=1)
  net.build((None, image_size, image_size, 3))
  testing_utils.randomise_bn_statistics(net)
  return net


def _images(count=3, size=16, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


class RawImageClassifierTest(absltest.TestCase):

  def test_normalises_like_training_and_keeps_the_networks_weights(self):
    net = _network()
    classifier = export.RawImageClassifier(net, 16, INFO.mean, INFO.std)
    images = _images()
    # Independent truth: the training pipelines' (x / 255 - mean) / std, in numpy.
    normalised = ((images / 255.0 - np.array(INFO.mean)) / np.array(INFO.std)).astype("float32")
    np.testing.assert_allclose(classifier(images, training=False).numpy(),
                               net(normalised, training=False).numpy(),
                               **testing_utils.tolerance(np.float32))
    self.assertLen(classifier.get_weights(), len(net.get_weights()))
    for a, b in zip(classifier.get_weights(), net.get_weights()):
      np.testing.assert_array_equal(a, b)
    self.assertEqual(classifier.num_classes, 5)
    self.assertEqual(classifier.compute_output_shape((None, 16, 16, 3)), (None, 5))

  def test_config_holds_exactly_the_init_arguments_and_round_trips(self):
    classifier = export.RawImageClassifier(_network(), 16, INFO.mean, INFO.std, name="clf")
    config = classifier.get_config()
    self.assertEqual((config["image_size"], config["mean"], config["std"], config["name"]),
                     (16, list(INFO.mean), list(INFO.std), "clf"))
    copy = export.RawImageClassifier.from_config(config)
    self.assertEqual((copy.image_size, copy.mean, copy.std), (16, INFO.mean, INFO.std))
    self.assertEqual(copy.network.get_config(), classifier.network.get_config())

  def test_keras_file_round_trip_is_bit_identical(self):
    classifier = export.RawImageClassifier(_network(), 16, INFO.mean, INFO.std)
    path = os.path.join(self.enter_context(tempfile.TemporaryDirectory()), "m.keras")
    classifier.save(path)
    loaded = export.load_keras_model(path)
    images = _images(seed=1)
    np.testing.assert_array_equal(loaded(images, training=False).numpy(),
                                  classifier(images, training=False).numpy())

  def test_images_other_than_uint8_of_the_image_size_are_refused_in_one_line(self):
    classifier = export.RawImageClassifier(_network(), 16, INFO.mean, INFO.std)
    images = _images()
    cases = [(images.astype(np.float32), r"got float32 \[3, 16, 16, 3\]$"),
             (images.astype(np.int32), r"got int32 \[3, 16, 16, 3\]$"),
             (_images(size=32), r"got uint8 \[3, 32, 32, 3\]$"),
             (images[0], r"got uint8 \[16, 16, 3\]$")]
    for bad, ending in cases:
      with self.assertRaisesRegex(
          ValueError, r"^images must be uint8 \[N, 16, 16, 3\] raw RGB pixels 0\.\.255 \(the "
          r"model normalises them itself\); " + ending) as raised:
        classifier(bad)
      self.assertNotIn("\n", str(raised.exception))

  def test_bad_arguments_are_refused(self):
    net = _network()
    with self.assertRaisesRegex(ValueError, r"image_size must be an int >= 1; got 0"):
      export.RawImageClassifier(net, 0, INFO.mean, INFO.std)
    with self.assertRaisesRegex(ValueError,
                                r"mean must be 3 floats \(R, G, B\) on the \[0, 1\] scale; "
                                r"got \(0\.5, 0\.5\)"):
      export.RawImageClassifier(net, 16, (0.5, 0.5), INFO.std)
    with self.assertRaisesRegex(ValueError, r"std must be 3 floats \(R, G, B\), each > 0 on the "
                                            r"\[0, 1\] scale; got \(0\.2, -0\.1, 0\.2\)"):
      export.RawImageClassifier(net, 16, INFO.mean, (0.2, -0.1, 0.2))
    with self.assertRaisesRegex(ValueError, r"mean must be 3 floats .*got 'rgb'"):
      export.RawImageClassifier(net, 16, "rgb", INFO.std)
    classifier = export.RawImageClassifier(net, 16, INFO.mean, INFO.std)
    with self.assertRaisesRegex(ValueError, r"network must be a Keras classifier of normalised "
                                            r"float images .*got RawImageClassifier"):
      export.RawImageClassifier(classifier, 16, INFO.mean, INFO.std)
    with self.assertRaisesRegex(ValueError, r"network must be .*got str"):
      export.RawImageClassifier("net", 16, INFO.mean, INFO.std)

  def test_serving_module_takes_only_the_raw_image_contract(self):
    with self.assertRaisesRegex(ValueError,
                                r"classifier must be a RawImageClassifier .*got NB201Network"):
      export.ImageClassifierModule(_network())


if __name__ == "__main__":
  absltest.main()
