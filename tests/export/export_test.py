"""Export: the .keras file, the SavedModel loaded WITHOUT tenas_tf, its signature, the layout;
both files on one input contract (raw uint8 images in)."""

import json
import os
import re
import stat
import subprocess
import sys
import tempfile

from absl.testing import absltest
import keras
import numpy as np
import tensorflow as tf

from tenas_tf import export
from tenas_tf.data import dataset_info
from tenas_tf.spaces import NB201Network
from tests import testing_utils

ARCH = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|"
INFO = dataset_info("cifar10")
SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")

# Runs in a fresh interpreter, cwd outside the repository, PYTHONPATH cleared, and any import of
# tenas_tf made to fail (an editable install would otherwise still find it).
_LOAD_WITHOUT_TENAS = r"""
import importlib.abc, json, sys

class _NoTenas(importlib.abc.MetaPathFinder):
  def find_spec(self, name, path=None, target=None):
    if name == "tenas_tf" or name.startswith("tenas_tf."):
      raise ImportError("tenas_tf must not be needed to load the SavedModel")
    return None

sys.meta_path.insert(0, _NoTenas())
import numpy as np
import tensorflow as tf

saved_model_dir, images_path, outputs_path = sys.argv[1:4]
signature = tf.saved_model.load(saved_model_dir).signatures["serving_default"]
outputs = signature(image=tf.constant(np.load(images_path)))
np.savez(outputs_path, **{name: value.numpy() for name, value in outputs.items()})
print(json.dumps({
    "inputs": {name: [spec.dtype.name, spec.shape.as_list()]
               for name, spec in signature.structured_input_signature[1].items()},
    "outputs": {name: [spec.dtype.name, spec.shape.as_list()]
                for name, spec in signature.structured_outputs.items()},
    "tenas_tf_imported": any(m.split(".")[0] == "tenas_tf" for m in sys.modules),
}))
"""


def _model():
  """A small NB201 network with non-trivial BatchNorm statistics."""
  net = NB201Network(ARCH, num_classes=10, channels=4, cells_per_stage=1)
  net.build((None, 32, 32, 3))
  rng = np.random.default_rng(1)
  for variable in net.non_trainable_variables:
    if variable.path.endswith("moving_mean"):
      variable.assign(rng.normal(size=variable.shape).astype("float32"))
    elif variable.path.endswith("moving_variance"):
      variable.assign(rng.uniform(0.5, 2.0, size=variable.shape).astype("float32"))
  return net


def _uint8_images(count=6, seed=0):
  return np.random.default_rng(seed).integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8)


def _normalized(images):
  """The training pipeline's normalisation, written out: (x / 255 - mean) / std."""
  return ((images / 255.0 - np.array(INFO.mean)) / np.array(INFO.std)).astype("float32")


def _parse_saved_model_cli(text):
  """{'inputs'|'outputs': {name: (dtype, shape)}} and the method name from `show` output."""
  parsed = {"inputs": {}, "outputs": {}}
  for kind, name, dtype, shape in re.findall(
      r"(inputs|outputs)\['(\w+)'\] tensor_info:\s+dtype: (\w+)\s+shape: \(([-\d, ]+)\)", text):
    parsed[kind][name] = (dtype, tuple(int(d) for d in shape.split(",") if d.strip()))
  method = re.search(r"Method name is: (\S+)", text)
  return parsed, method.group(1) if method else None


class ExportTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.TemporaryDirectory()
    cls.model = _model()
    cls.export_base = os.path.join(cls.tmp.name, "export")
    cls.paths = export.export_model(cls.model, cls.export_base, "nb201", image_size=32,
                                    mean=INFO.mean, std=INFO.std)

  @classmethod
  def tearDownClass(cls):
    cls.tmp.cleanup()
    super().tearDownClass()

  def test_keras_file_reloads_with_identical_weights_and_outputs(self):
    self.assertEqual(self.paths.keras_path, os.path.join(self.export_base, "nb201.keras"))
    loaded = keras.saving.load_model(self.paths.keras_path)
    self.assertIsInstance(loaded, export.RawImageClassifier)
    self.assertIsInstance(loaded.network, NB201Network)
    self.assertEqual(loaded.network.get_config()["genotype"], ARCH)
    self.assertEqual((loaded.image_size, loaded.mean, loaded.std, loaded.num_classes),
                     (32, INFO.mean, INFO.std, 10))
    self.assertLen(loaded.get_weights(), len(self.model.get_weights()))
    for original, reloaded in zip(self.model.get_weights(), loaded.get_weights()):
      np.testing.assert_array_equal(original, reloaded)
    images = _uint8_images()
    # Save -> load -> the same outputs, bit for bit, as the exported model before saving.
    before_saving = export.RawImageClassifier(self.model, 32, INFO.mean, INFO.std)
    np.testing.assert_array_equal(loaded(images, training=False).numpy(),
                                  before_saving(images, training=False).numpy())
    # And the meaning of the pixels is training's: the network on (x / 255 - mean) / std.
    np.testing.assert_allclose(loaded(images, training=False).numpy(),
                               self.model(_normalized(images), training=False).numpy(),
                               **testing_utils.tolerance(np.float32))
    self.assertIsInstance(export.load_keras_model(self.paths.keras_path),
                          export.RawImageClassifier)

  def test_keras_file_and_saved_model_give_the_same_logits_on_one_uint8_batch(self):
    images = _uint8_images(seed=3)
    from_keras = export.load_keras_model(self.paths.keras_path)(images, training=False).numpy()
    served = tf.saved_model.load(self.paths.saved_model_dir).signatures["serving_default"]
    from_saved_model = served(image=tf.constant(images))["logits"].numpy()
    np.testing.assert_allclose(from_saved_model, from_keras,
                               **testing_utils.tolerance(np.float32))

  def test_float_batch_is_refused_by_the_keras_file_naming_uint8(self):
    loaded = export.load_keras_model(self.paths.keras_path)
    images = _uint8_images()
    for floats in (_normalized(images), images.astype(np.float32), images.astype(np.float64)):
      # `predict`'s data adapter casts float batches to float32 before the model sees them.
      for run, dtype in ((lambda x: loaded(x, training=False), floats.dtype.name),
                         (lambda x: loaded.predict(x, verbose=0), "float32")):
        with self.assertRaisesRegex(
            ValueError, rf"^images must be uint8 \[N, 32, 32, 3\] raw RGB pixels 0\.\.255 .*"
            rf"got {dtype} \[6, 32, 32, 3\]$") as raised:
          run(floats)
        self.assertNotIn("\n", str(raised.exception))
    # The contract's own input works through both paths.
    np.testing.assert_allclose(loaded.predict(images, verbose=0),
                               loaded(images, training=False).numpy(),
                               **testing_utils.tolerance(np.float32))

  def test_a_model_already_exported_or_bad_statistics_are_refused_before_writing(self):
    base = os.path.join(self.enter_context(tempfile.TemporaryDirectory()), "export")
    loaded = export.load_keras_model(self.paths.keras_path)
    with self.assertRaisesRegex(ValueError, "got a RawImageClassifier .*pass its .network"):
      export.export_model(loaded, base, "again", image_size=32, mean=INFO.mean, std=INFO.std)
    with self.assertRaisesRegex(ValueError, r"std must be 3 floats \(R, G, B\), each > 0"):
      export.export_model(self.model, base, "m", image_size=32, mean=INFO.mean,
                          std=(0.2, 0.0, 0.2))
    self.assertFalse(os.path.exists(base))

  def test_saved_model_loads_without_tenas_tf_and_matches_the_keras_model(self):
    images = _uint8_images()
    work = self.enter_context(tempfile.TemporaryDirectory())
    images_path = os.path.join(work, "images.npy")
    outputs_path = os.path.join(work, "outputs.npz")
    np.save(images_path, images)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    process = subprocess.run(
        [sys.executable, "-c", _LOAD_WITHOUT_TENAS, os.path.abspath(self.paths.saved_model_dir),
         images_path, outputs_path], cwd=work, env=env, capture_output=True, text=True,
        timeout=300)
    self.assertEqual(process.returncode, 0, process.stderr[-3000:])
    report = json.loads(process.stdout.strip().splitlines()[-1])
    self.assertFalse(report["tenas_tf_imported"])
    self.assertEqual(report["inputs"], {"image": ["uint8", [None, 32, 32, 3]]})
    self.assertEqual(report["outputs"], {"probabilities": ["float32", [None, 10]],
                                         "logits": ["float32", [None, 10]]})
    with np.load(outputs_path) as outputs:
      logits, probabilities = outputs["logits"], outputs["probabilities"]
    expected = self.model(_normalized(images), training=False).numpy()
    np.testing.assert_allclose(logits, expected, **testing_utils.tolerance(np.float32))
    # The .keras file takes the same uint8 batch and gives the same logits.
    np.testing.assert_allclose(
        logits, export.load_keras_model(self.paths.keras_path)(images, training=False).numpy(),
        **testing_utils.tolerance(np.float32))
    softmax = np.exp(expected - expected.max(1, keepdims=True))
    np.testing.assert_allclose(probabilities, softmax / softmax.sum(1, keepdims=True),
                               **testing_utils.tolerance(np.float32))

  def test_saved_model_cli_shows_the_serving_signature(self):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.run(
        [SAVED_MODEL_CLI, "show", "--dir", self.paths.saved_model_dir, "--tag_set", "serve",
         "--signature_def", "serving_default"], env=env, capture_output=True, text=True,
        timeout=300)
    self.assertEqual(process.returncode, 0, process.stderr[-3000:])
    parsed, method = _parse_saved_model_cli(process.stdout)
    self.assertEqual(parsed["inputs"], {"image": ("DT_UINT8", (-1, 32, 32, 3))})
    self.assertEqual(parsed["outputs"], {"probabilities": ("DT_FLOAT", (-1, 10)),
                                         "logits": ("DT_FLOAT", (-1, 10))})
    self.assertEqual(method, "tensorflow/serving/predict")

  def test_tf_serving_layout_versions_and_models_config(self):
    base = os.path.join(self.enter_context(tempfile.TemporaryDirectory()), "export")
    first = export.export_model(self.model, base, "alpha", image_size=32, mean=INFO.mean,
                                std=INFO.std)
    second = export.export_model(self.model, base, "alpha", image_size=32, mean=INFO.mean,
                                 std=INFO.std)
    export.export_model(self.model, base, "beta", image_size=32, mean=INFO.mean, std=INFO.std,
                        version=7, serving_base_path="/srv/models")
    self.assertEqual((first.version, second.version), (1, 2))
    self.assertEqual(sorted(os.listdir(os.path.join(base, "alpha"))), ["1", "2"])  # no staging
    self.assertTrue(os.path.isfile(os.path.join(base, "alpha", "2", "saved_model.pb")))
    mode = stat.S_IMODE(os.stat(second.saved_model_dir).st_mode)
    self.assertEqual(mode & 0o055, 0o055)  # readable by a server running as another user
    with open(os.path.join(base, "models.config")) as stream:
      text = stream.read()
    # pylint: disable=g-import-not-at-top
    try:
      from google.protobuf import text_format
      from tensorflow_serving.config import model_server_config_pb2
    except ImportError as error:
      self.skipTest(f"tensorflow-serving-api (test extra) absent, models.config not parsed: "
                    f"{error}")
    config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    entries = [(c.name, c.base_path, c.model_platform)
               for c in config.model_config_list.config]
    # The config lists every model of the folder; the last export's base path applies.
    self.assertEqual(entries, [("alpha", "/srv/models/alpha", "tensorflow"),
                               ("beta", "/srv/models/beta", "tensorflow")])

  def test_bad_names_and_existing_versions_are_refused(self):
    base = os.path.join(self.enter_context(tempfile.TemporaryDirectory()), "export")
    export.export_model(self.model, base, "m", image_size=32, mean=INFO.mean, std=INFO.std)
    with self.assertRaisesRegex(ValueError, "version 1 of model 'm' already exists"):
      export.export_model(self.model, base, "m", image_size=32, mean=INFO.mean, std=INFO.std,
                          version=1)
    with self.assertRaisesRegex(ValueError, "model_name must be letters, digits.*got 'a/b'"):
      export.export_model(self.model, base, "a/b", image_size=32, mean=INFO.mean, std=INFO.std)
    with self.assertRaisesRegex(ValueError, "version must be a positive int .*got 0"):
      export.export_model(self.model, base, "m", image_size=32, mean=INFO.mean, std=INFO.std,
                          version=0)


if __name__ == "__main__":
  absltest.main()
