"""The export binary on a training run, a search run and a bare --genotype; its user errors."""

import contextlib
import io
import json
import os
import shutil
import tempfile

from absl import flags
from absl.testing import absltest
import keras
import numpy as np
import tensorflow as tf

from tenas_tf import train
from tenas_tf.data import dataset_info
from tenas_tf.launch import export as export_binary
from tenas_tf.launch import train as train_binary
from tests import testing_utils

FLAGS = flags.FLAGS
ARCH = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
        "|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
OTHER_ARCH = "|nor_conv_1x1~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"
SMALL = ["--channels=2", "--cells_per_stage=1"]


def _run_main(binary, argv):
  """Runs a binary's main in-process on `argv`; returns (exit code, stdout, stderr message)."""
  stdout, stderr = io.StringIO(), io.StringIO()
  FLAGS.unparse_flags()
  try:
    FLAGS(["binary"] + argv)
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
      binary.main(["binary"])
  except SystemExit as exit_:
    message = exit_.code if isinstance(exit_.code, str) else ""
    return (1 if isinstance(exit_.code, str) else exit_.code), stdout.getvalue(), message
  finally:
    FLAGS.unparse_flags()
  return 0, stdout.getvalue(), stderr.getvalue()


def _kind(run_dir):
  with open(os.path.join(run_dir, "run.json")) as stream:
    return json.load(stream)["kind"]


def _untrained_model(arch):
  return train.build_network(train.parse_genotype("nb201", arch), 10, 32, channels=2,
                             cells_per_stage=1, drop_path_rate=0.0)


class ExportBinaryTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = self.enter_context(tempfile.TemporaryDirectory())
    self.export_base = os.path.join(self.tmp, "export")

  def _export(self, run_dir, *extra):
    return _run_main(export_binary, [f"--run_dir={run_dir}", f"--export_base={self.export_base}",
                                     *SMALL, *extra])

  def test_exports_a_training_run_with_its_trained_weights(self):
    run_dir = os.path.join(self.tmp, "train")
    code, _, message = _run_main(train_binary, [
        "--dataset=synthetic", "--synthetic_count=32", "--batch_size=8", "--epochs=1",
        "--steps_per_epoch=2", f"--genotype={ARCH}", f"--run_dir={run_dir}", *SMALL,
        "--nodeterministic_ops"])
    self.assertEqual(code, 0, message)
    self.assertEqual(_kind(run_dir), "training")
    code, stdout, message = self._export(run_dir, "--model_name=trained")
    self.assertEqual(code, 0, message)
    record = json.loads(stdout[stdout.index("{"):])
    self.assertTrue(record["trained"])
    self.assertEqual(record["source"], f"trained model {os.path.join(run_dir, 'model.keras')}")
    self.assertEqual(_kind(run_dir), "training")  # the export is recorded in the run it read
    self.assertEqual((record["genotype"], record["dataset"], record["version"]),
                     (ARCH, "synthetic", 1))
    self.assertTrue(os.path.isfile(os.path.join(run_dir, "export.json")))
    self.assertTrue(os.path.isfile(os.path.join(run_dir, "export.flags")))

    trained = keras.saving.load_model(os.path.join(run_dir, "model.keras"), compile=False)
    exported = keras.saving.load_model(record["keras_path"])
    for a, b in zip(trained.get_weights(), exported.get_weights()):
      np.testing.assert_array_equal(a, b)
    info = dataset_info("synthetic")
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    normalized = ((images / 255.0 - np.array(info.mean)) / np.array(info.std)).astype("float32")
    served = tf.saved_model.load(record["saved_model_dir"]).signatures["serving_default"]
    np.testing.assert_allclose(served(image=tf.constant(images))["logits"].numpy(),
                               trained(normalized, training=False).numpy(),
                               **testing_utils.tolerance(np.float32))

  def test_exports_a_search_run_or_a_genotype_untrained(self):
    search_dir = os.path.join(self.tmp, "search")
    result = {"genotype": ARCH, "config": {"space": "nb201", "dataset": "cifar100"}}
    testing_utils.write_search_run(search_dir, result)
    # A stray model file does not make it a training run: run.json says what the folder is.
    trained = os.path.join(self.tmp, "trained.keras")
    _untrained_model(OTHER_ARCH).save(trained)
    shutil.copy(trained, os.path.join(search_dir, "model.keras"))
    code, stdout, message = self._export(search_dir, "--model_name=searched")
    self.assertEqual(code, 0, message)
    record = json.loads(stdout[stdout.index("{"):])
    self.assertEqual((record["trained"], record["dataset"], record["genotype"]),
                     (False, "cifar100", ARCH))
    self.assertEqual(keras.saving.load_model(record["keras_path"]).num_classes, 100)

    code, _, message = self._export(search_dir, f"--genotype={OTHER_ARCH}")
    self.assertEqual(code, 1)
    self.assertIn("differs from the genotype found", message)

    # Without run.json a folder holds no run, whatever files it has: --genotype is needed.
    bare_dir = os.path.join(self.tmp, "bare")
    os.makedirs(bare_dir)
    with open(os.path.join(bare_dir, "result.json"), "w") as stream:
      json.dump(result, stream)
    code, _, message = self._export(bare_dir)
    self.assertEqual(code, 1)
    self.assertEqual(message, f"error: run_dir {bare_dir!r} holds no run (no run.json); give a "
                              f"genotype to export an untrained cell, or a search or training "
                              f"run directory")
    code, stdout, message = self._export(bare_dir, f"--genotype={OTHER_ARCH}",
                                         "--model_name=bare", "--dataset=imagenet16-120")
    self.assertEqual(code, 0, message)
    record = json.loads(stdout[stdout.index("{"):])
    self.assertEqual((record["genotype"], record["dataset"]), (OTHER_ARCH, "imagenet16-120"))
    self.assertEqual(_kind(bare_dir), "export")
    served = tf.saved_model.load(record["saved_model_dir"]).signatures["serving_default"]
    self.assertEqual(served.structured_input_signature[1]["image"].shape.as_list(),
                     [None, 16, 16, 3])
    with open(os.path.join(self.export_base, "models.config")) as stream:
      config = stream.read()
    self.assertIn('name: "bare"', config)
    self.assertIn('name: "searched"', config)
    self.assertIn('base_path: "/models/bare"', config)

    code, _, message = self._export(bare_dir, f"--genotype={OTHER_ARCH}", "--model_name=a b")
    self.assertEqual(code, 1)
    self.assertIn("model_name must be letters", message)

  def test_a_run_without_a_network_is_not_exported(self):
    run_dir = os.path.join(self.tmp, "scores")
    os.makedirs(run_dir)
    with open(os.path.join(run_dir, "run.json"), "w") as stream:
      json.dump({"kind": "scores"}, stream)
    code, _, message = self._export(run_dir, f"--genotype={ARCH}")
    self.assertEqual(code, 1)
    self.assertIn(f"run_dir {run_dir!r} holds a scores run, which has no network to export",
                  message)
    self.assertFalse(os.path.exists(os.path.join(run_dir, "export.json")))


if __name__ == "__main__":
  absltest.main()
