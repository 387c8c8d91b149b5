"""Training on real CIFAR-10 images learns: loss falls, held-out accuracy beats chance."""

import os
import tempfile

from absl.testing import absltest
import keras
import numpy as np

from tenas_tf import train
from tenas_tf.data import dataset_info, npz_examples
from tests import testing_utils

CIFAR = testing_utils.shared_dir() / "data" / "cifar"
ARCH = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
        "|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")


class TrainingTest(absltest.TestCase):

  def test_a_few_hundred_steps_on_cifar10_beat_chance_on_held_out_images(self):
    files = [CIFAR / name for name in ("cifar10_train_0000-0999.npz",
                                       "cifar10_train_1000-1999.npz",
                                       "cifar10_test_0000-0999.npz")]
    if not all(path.exists() for path in files):
      self.skipTest(f"shared CIFAR-10 images absent: {[str(p) for p in files]}")
    examples = npz_examples([str(p) for p in files[:2]], 10)
    held_out = npz_examples(str(files[2]), 10)
    config = train.TrainConfig(genotype=ARCH, channels=4, cells_per_stage=1, epochs=3,
                               steps_per_epoch=40, batch_size=64, learning_rate=0.1,
                               cutout=0, seed=0)
    run_dir = self.enter_context(tempfile.TemporaryDirectory())
    result = train.train(config, examples, held_out, run_dir, verbose=0)

    losses = [row["loss"] for row in result["history"]]
    self.assertEqual([row["epoch"] for row in result["history"]], [0, 1, 2])
    self.assertLess(losses[-1], losses[0] - 0.2)
    self.assertGreater(result["eval"]["accuracy"], 0.2)  # chance: 0.1 (0.31 seen)
    self.assertAlmostEqual(result["history"][-1]["learning_rate"], 0.0, places=6)
    self.assertGreater(result["history"][-1]["images_per_second"], 0)

    # The final model file gives the reported held-out accuracy.
    model = keras.saving.load_model(os.path.join(run_dir, train.MODEL_FILE), compile=False)
    info = dataset_info("cifar10")
    x = ((held_out[0] / 255.0 - np.array(info.mean)) / np.array(info.std)).astype("float32")
    predictions = model.predict(x, batch_size=250, verbose=0).argmax(1)
    self.assertAlmostEqual(float(np.mean(predictions == held_out[1])), result["eval"]["accuracy"],
                           places=6)
    self.assertFalse(os.path.exists(os.path.join(run_dir, train.BACKUP_DIR)))  # done: deleted

  def test_bad_configurations_are_refused_with_the_value(self):
    with self.assertRaisesRegex(ValueError, "learning_rate must be a float > 0.0; got 0"):
      train.TrainConfig(genotype=ARCH, learning_rate=0)
    with self.assertRaisesRegex(ValueError, "strategy must be one of .*; got 'tpu'"):
      train.TrainConfig(genotype=ARCH, strategy="tpu")
    with self.assertRaisesRegex(ValueError, "unknown op 'conv'"):
      train.TrainConfig(genotype="|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with self.assertRaisesRegex(ValueError, r"label_smoothing must be a float in \[0.0, 1.0\); "
                                            "got 1.5"):
      train.TrainConfig(genotype=ARCH, label_smoothing=1.5)


if __name__ == "__main__":
  absltest.main()
