"""Exporting DARTS networks: the .keras file and the SavedModel (main logits only) on one raw
uint8 input, the binary."""

import json
import os
import tempfile

from absl.testing import absltest
import keras
import numpy as np
import tensorflow as tf

from tenas_tf import export
from tenas_tf.launch import export as export_binary
from tenas_tf.spaces import DartsGenotype, DartsNetwork, TENAS_IMAGENET
from tests import testing_utils
from tests.export.export_binary_test import _run_main
from tests.export.export_test import INFO, _normalized, _uint8_images
from tests.spaces.darts_network_test import TINY


class DartsExportTest(absltest.TestCase):

  def test_saved_model_serves_the_main_logits_of_a_darts_network(self):
    # With its auxiliary head and drop-path: both are training-only and must not be served.
    model = DartsNetwork(TINY, num_classes=10, channels=4, num_cells=3, auxiliary_weight=0.4,
                         drop_path_rate=0.3)
    model.build((None, 32, 32, 3))
    testing_utils.randomise_bn_statistics(model)
    base = os.path.join(self.enter_context(tempfile.TemporaryDirectory()), "export")
    paths = export.export_model(model, base, "darts", image_size=32, mean=INFO.mean,
                                std=INFO.std)
    images = _uint8_images()
    expected = model(_normalized(images), training=False).numpy()

    loaded = keras.saving.load_model(paths.keras_path)
    self.assertIsInstance(loaded, export.RawImageClassifier)
    self.assertIsInstance(loaded.network, DartsNetwork)
    self.assertEqual(DartsGenotype.from_json(loaded.network.get_config()["genotype"]), TINY)
    self.assertLen(loaded.get_weights(), len(model.get_weights()))
    for original, reloaded in zip(model.get_weights(), loaded.get_weights()):
      np.testing.assert_array_equal(original, reloaded)
    # The network inside, on normalised floats: bit for bit the trained network.
    np.testing.assert_array_equal(loaded.network(_normalized(images), training=False).numpy(),
                                  expected)
    # The exported model, on the raw uint8 batch: bit for bit the model before saving.
    from_keras = loaded(images, training=False).numpy()
    np.testing.assert_array_equal(
        from_keras, export.RawImageClassifier(model, 32, INFO.mean, INFO.std)(
            images, training=False).numpy())
    np.testing.assert_allclose(from_keras, expected, **testing_utils.tolerance(np.float32))
    with self.assertRaisesRegex(ValueError,
                                r"^images must be uint8 .*got float32 \[6, 32, 32, 3\]$"):
      loaded(_normalized(images), training=False)

    served = tf.saved_model.load(paths.saved_model_dir).signatures["serving_default"]
    self.assertEqual(sorted(served.structured_outputs), ["logits", "probabilities"])
    outputs = served(image=tf.constant(images))
    # One input contract: the SavedModel and the .keras file, the same uint8 batch, one answer.
    np.testing.assert_allclose(outputs["logits"].numpy(), from_keras,
                               **testing_utils.tolerance(np.float32))
    np.testing.assert_allclose(outputs["logits"].numpy(), expected,
                               **testing_utils.tolerance(np.float32))
    self.assertEqual(outputs["probabilities"].shape, (len(images), 10))

  def test_binary_exports_darts_genotypes_of_a_search_run_or_given(self):
    tmp = self.enter_context(tempfile.TemporaryDirectory())
    export_base = os.path.join(tmp, "export")
    search_dir = os.path.join(tmp, "search")
    testing_utils.write_search_run(
        search_dir, {"genotype": TINY.to_json(),
                     "config": {"space": "darts", "dataset": "cifar100"}})
    small = [f"--export_base={export_base}", "--channels=4", "--num_cells=3"]
    # --genotype in DARTS' text form names the searched genotype: accepted.
    code, stdout, message = _run_main(export_binary, [
        f"--run_dir={search_dir}", "--model_name=searched", f"--genotype={TINY.to_string()}",
        *small])
    self.assertEqual(code, 0, message)
    record = json.loads(stdout[stdout.index("{"):])
    self.assertEqual((DartsGenotype.from_json(record["genotype"]), record["dataset"],
                      record["trained"]), (TINY, "cifar100", False))
    model = keras.saving.load_model(record["keras_path"])
    self.assertEqual((model.num_classes, model.network.num_cells, model.network.variant),
                     (100, 3, "cifar"))

    code, _, message = _run_main(export_binary, [
        f"--run_dir={search_dir}", f"--genotype={TENAS_IMAGENET.to_string()}", *small])
    self.assertEqual(code, 1)
    self.assertIn("differs from the genotype found in", message)

    code, stdout, message = _run_main(export_binary, [
        f"--run_dir={os.path.join(tmp, 'bare')}", "--model_name=given", "--space=darts",
        f"--genotype={json.dumps(TINY.to_json())}", "--dataset=imagenet-1k", "--image_size=64",
        *small])
    self.assertEqual(code, 0, message)
    record = json.loads(stdout[stdout.index("{"):])
    served = tf.saved_model.load(record["saved_model_dir"]).signatures["serving_default"]
    self.assertEqual(served.structured_input_signature[1]["image"].shape.as_list(),
                     [None, 64, 64, 3])
    self.assertEqual(served.structured_outputs["logits"].shape.as_list(), [None, 1000])
    self.assertEqual(keras.saving.load_model(record["keras_path"]).network.variant, "imagenet")


if __name__ == "__main__":
  absltest.main()
