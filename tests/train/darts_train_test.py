"""Retraining DARTS genotypes: the train binary from a search run and from ImageNet folders,
genotype forms, and the configurations refused."""

import contextlib
import io
import json
import os
import tempfile

from absl.testing import absltest
import keras
import numpy as np

from tenas_tf import train
from tenas_tf.launch import train as train_binary
from tenas_tf.spaces import DartsGenotype, DartsNetwork, TENAS_CIFAR10
from tests import testing_utils
from tests.spaces.darts_network_test import TINY
from tests.data.imagenet_training_test import write_image_folder

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CIFAR_RECIPE = f"--flagfile={os.path.join(REPO, 'launch', 'train_darts_cifar10.flags')}"
IMAGENET_RECIPE = f"--flagfile={os.path.join(REPO, 'launch', 'train_darts_imagenet.flags')}"
SMALL = ["--channels=4", "--num_cells=3", "--epochs=1", "--steps_per_epoch=2", "--batch_size=4",
         "--nodeterministic_ops"]


class DartsTrainBinaryTest(absltest.TestCase):

  def test_trains_the_genotype_of_a_darts_search_run(self):
    tmp = self.enter_context(tempfile.TemporaryDirectory())
    search_dir, run_dir = os.path.join(tmp, "search"), os.path.join(tmp, "train")
    testing_utils.write_search_run(
        search_dir, {"genotype": TINY.to_json(), "config": {"space": "darts"}})
    recipe = [CIFAR_RECIPE, "--dataset=synthetic",
              "--synthetic_count=16", *SMALL]
    code, message = testing_utils.run_main(
        train_binary, recipe + [f"--search_run_dir={search_dir}", f"--run_dir={run_dir}"])
    self.assertEqual(code, 0, message)
    result = testing_utils.read_result(run_dir)
    self.assertEqual(result["genotype"], TINY.to_string())  # DARTS' text form
    config = result["config"]
    self.assertEqual((config["space"], config["auxiliary_weight"], config["drop_path_rate"],
                      config["nesterov"], config["learning_rate"], config["cutout"]),
                     ("darts", 0.4, 0.3, False, 0.025, 16))
    self.assertLen(result["history"], 1)
    self.assertTrue(np.isfinite(result["history"][0]["loss"]))
    model = keras.saving.load_model(os.path.join(run_dir, train.MODEL_FILE), compile=False)
    self.assertIsInstance(model, DartsNetwork)
    self.assertEqual(DartsGenotype.from_json(model.get_config()["genotype"]), TINY)
    self.assertEqual((model.variant, model.channels, model.num_cells), ("cifar", 4, 3))
    self.assertIsNotNone(model.auxiliary_head)
    self.assertEqual(model(np.zeros((2, 32, 32, 3), "float32")).shape, (2, 10))

    # The same genotype in DARTS' text form is the same configuration: finished, not redone.
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
      code, message = testing_utils.run_main(
          train_binary, recipe + [f"--genotype={TINY.to_string()}", f"--run_dir={run_dir}"])
    self.assertEqual(code, 0, message)
    self.assertIn("already finished", stdout.getvalue())

  def test_trains_the_imagenet_network_on_image_folders(self):
    tmp = self.enter_context(tempfile.TemporaryDirectory())
    train_dir = write_image_folder(os.path.join(tmp, "train"))
    eval_dir = write_image_folder(os.path.join(tmp, "val"), sizes_per_class=((30, 40),))
    run_dir = os.path.join(tmp, "run")
    code, message = testing_utils.run_main(train_binary, [
        IMAGENET_RECIPE, "--image_size=32", "--strategy=default",
        f"--genotype={json.dumps(TINY.to_json())}", f"--train_image_dir={train_dir}",
        f"--eval_image_dir={eval_dir}", f"--run_dir={run_dir}", *SMALL, "--num_cells=2"])
    self.assertEqual(code, 0, message)
    result = testing_utils.read_result(run_dir)
    self.assertEqual((result["config"]["image_size"], result["config"]["label_smoothing"]),
                     (32, 0.1))
    self.assertTrue(result["config"]["data_source"].startswith("image_dir:"))
    self.assertBetween(result["eval"]["accuracy"], 0.0, 1.0)
    model = keras.saving.load_model(os.path.join(run_dir, train.MODEL_FILE), compile=False)
    self.assertEqual((model.variant, model.num_classes), ("imagenet", 1000))
    self.assertIsNone(model.auxiliary_head)

    code, message = testing_utils.run_main(train_binary, [
        IMAGENET_RECIPE, f"--genotype={TINY.to_string()}",
        f"--run_dir={run_dir}_npz", "--data_npz=x.npz", *SMALL])
    self.assertEqual(code, 1)
    self.assertIn("trains from image files: give --train_image_dir", message)


class DartsTrainConfigTest(absltest.TestCase):

  def test_every_form_of_a_genotype_parses_to_one_value(self):
    for form in (TENAS_CIFAR10.to_json(), json.dumps(TENAS_CIFAR10.to_json()),
                 TENAS_CIFAR10.to_string(), TENAS_CIFAR10):
      self.assertEqual(train.parse_genotype("darts", form), TENAS_CIFAR10)
      self.assertEqual(train.TrainConfig(genotype=form, space="darts").genotype,
                       TENAS_CIFAR10.to_string())
    self.assertEqual(train.network_options("darts", "imagenet-1k", dict(
        channels=48, num_cells=14, auxiliary_weight=0.0, drop_path_rate=0.0, cutout=0)),
        dict(channels=48, num_cells=14, auxiliary_weight=0.0, drop_path_rate=0.0,
             variant="imagenet"))

  def test_configurations_that_cannot_apply_are_refused(self):
    nb201 = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
    with self.assertRaisesRegex(ValueError, "auxiliary_weight applies to space 'darts' only.*"
                                            "got 0.4 with space 'nb201'"):
      train.TrainConfig(genotype=nb201, auxiliary_weight=0.4)
    with self.assertRaisesRegex(ValueError, "image_size must be None or 32 for dataset "
                                            "'cifar10'.*got 224"):
      train.TrainConfig(genotype=TINY.to_string(), space="darts", image_size=224)
    with self.assertRaisesRegex(ValueError, "cutout applies to the CIFAR-style pipeline, not to "
                                            "dataset 'imagenet-1k'"):
      train.TrainConfig(genotype=TINY.to_string(), space="darts", dataset="imagenet-1k",
                        cutout=16)
    with self.assertRaisesRegex(ValueError, "malformed DARTS genotype text"):
      train.TrainConfig(genotype="Genotype(normal=[])", space="darts")


if __name__ == "__main__":
  absltest.main()
