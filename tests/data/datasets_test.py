"""Tests of the dataset table against the numbers of the reference code (NB201 / AutoDL)."""

import dataclasses
import re

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np

from tenas_tf.data import DATASETS, DatasetInfo, dataset_info

# (image_size, pad, mean x255, std x255, num_classes, tfds_name, resize), copied from AutoDL's
# `get_dataset_with_transform.py` and torchvision's ImageNet statistics.
_SPEC = {
    "cifar10": (32, 4, (125.3, 123.0, 113.9), (63.0, 62.1, 66.7), 10, "cifar10", False),
    "cifar100": (32, 4, (129.3, 124.1, 112.4), (68.2, 65.4, 70.4), 100, "cifar100", False),
    "imagenet16-120": (16, 2, (122.68, 116.66, 104.01), (63.22, 61.26, 65.09), 120,
                       "imagenet_resized/16x16", False),
    # torchvision's ImageNet statistics (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225), x 255.
    "imagenet-1k": (32, 4, (123.675, 116.28, 103.53), (58.395, 57.12, 57.375), 1000,
                    "imagenet2012", True),
    "synthetic": (32, 4, (125.3, 123.0, 113.9), (63.0, 62.1, 66.7), 10, None, False),
}


class DatasetInfoTest(parameterized.TestCase):

  def test_names(self):
    self.assertEqual(set(DATASETS), set(_SPEC))

  @parameterized.parameters(*_SPEC)
  def test_matches_spec(self, name):
    size, pad, mean, std, num_classes, tfds_name, resize = _SPEC[name]
    info = dataset_info(name)
    self.assertIsInstance(info, DatasetInfo)
    self.assertEqual(info.name, name)
    self.assertEqual((info.image_size, info.pad), (size, pad))
    np.testing.assert_allclose(np.array(info.mean) * 255, mean, rtol=1e-12)
    np.testing.assert_allclose(np.array(info.std) * 255, std, rtol=1e-12)
    self.assertEqual(info.num_classes, num_classes)
    self.assertEqual(info.tfds_name, tfds_name)
    self.assertIs(info.resize, resize)

  def test_case_insensitive_and_passthrough(self):
    self.assertIs(dataset_info("ImageNet16-120"), DATASETS["imagenet16-120"])
    self.assertIs(dataset_info(DATASETS["cifar10"]), DATASETS["cifar10"])

  def test_frozen(self):
    with self.assertRaises(dataclasses.FrozenInstanceError):
      dataset_info("cifar10").pad = 0
    with self.assertRaises(TypeError):
      DATASETS["mnist"] = DATASETS["cifar10"]

  def test_imagenet_1k_case_insensitive(self):
    self.assertIs(dataset_info("ImageNet-1K"), DATASETS["imagenet-1k"])

  @parameterized.parameters("x", "imagenet", "", None, 10)
  def test_unknown_dataset(self, name):
    with self.assertRaisesRegex(
        ValueError, r"dataset must be one of \('cifar10', 'cifar100', 'imagenet16-120', "
        r"'imagenet-1k', 'synthetic'\); got " + re.escape(repr(name))):
      dataset_info(name)


if __name__ == "__main__":
  absltest.main()
