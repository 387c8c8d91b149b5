"""TF Serving requests built for the exported signature: gRPC PredictRequest, REST JSON bodies,
and, where `tensorflow_model_server` is installed, a real server answering both."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from absl.testing import absltest
import numpy as np
import tensorflow as tf

from tenas_tf import export
from tenas_tf.data import dataset_info
from tenas_tf.spaces import NB201Network
from tests import testing_utils

# pylint: disable=g-import-not-at-top
try:
  from tensorflow_serving.apis import predict_pb2
  from tensorflow_serving.apis import prediction_service_pb2_grpc
  _SERVING_API_ERROR = None
except ImportError as import_error:  # the test extra is not installed
  _SERVING_API_ERROR = str(import_error)
# pylint: enable=g-import-not-at-top

ARCH = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+"
        "|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|")
INFO = dataset_info("cifar10")
MODEL_NAME = "nb201"
SERVER = shutil.which("tensorflow_model_server")


def _check_against_signature(tensors, signature):
  """Raises ValueError unless {name: (tf.DType, shape)} fits the signature's inputs exactly."""
  specs = signature.structured_input_signature[1]
  if set(tensors) != set(specs):
    raise ValueError(f"inputs {sorted(tensors)} != signature inputs {sorted(specs)}")
  for name, (dtype, shape) in tensors.items():
    if dtype != specs[name].dtype:
      raise ValueError(f"input {name!r} has dtype {dtype.name}, signature {specs[name].dtype}")
    if not specs[name].shape.is_compatible_with(shape):
      raise ValueError(f"input {name!r} has shape {shape}, signature {specs[name].shape}")


def _request_tensors(request):
  return {name: (tf.as_dtype(proto.dtype), [d.size for d in proto.tensor_shape.dim])
          for name, proto in request.inputs.items()}


def _rest_tensors(body, signature):
  """The tensors TF Serving's REST API makes of a JSON body (row or columnar format)."""
  specs = signature.structured_input_signature[1]
  if "instances" in body:  # row format: one entry per image, batched by the server
    rows = body["instances"]
    named = rows and isinstance(rows[0], dict)
    columns = {name: [row[name] for row in rows] for name in rows[0]} if named else {
        next(iter(specs)): rows}
  else:  # columnar format: {"inputs": {name: batch}} or, for one input, {"inputs": batch}
    inputs = body["inputs"]
    columns = inputs if isinstance(inputs, dict) else {next(iter(specs)): inputs}
  return {name: np.asarray(value, dtype=specs[name].dtype.as_numpy_dtype)
          for name, value in columns.items()}


def _free_port():
  with socket.socket() as probe:
    probe.bind(("localhost", 0))
    return probe.getsockname()[1]


class ServingTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.TemporaryDirectory()
    cls.model = NB201Network(ARCH, num_classes=10, channels=4, cells_per_stage=1)
    cls.model.build((None, 32, 32, 3))
    cls.export_base = os.path.join(cls.tmp.name, "export")
    # The base path as a local server sees it (the docker image would see /models).
    cls.paths = export.export_model(cls.model, cls.export_base, MODEL_NAME, image_size=32,
                                    mean=INFO.mean, std=INFO.std,
                                    serving_base_path=os.path.abspath(cls.export_base))
    cls.signature = tf.saved_model.load(cls.paths.saved_model_dir).signatures[
        export.SIGNATURE_KEY]
    cls.images = np.random.default_rng(2).integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    normalized = ((cls.images / 255.0 - np.array(INFO.mean)) / np.array(INFO.std))
    cls.expected = cls.model(normalized.astype("float32"), training=False).numpy()

  @classmethod
  def tearDownClass(cls):
    cls.tmp.cleanup()
    super().tearDownClass()

  def _predict_request(self, images):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL_NAME
    request.model_spec.signature_name = export.SIGNATURE_KEY
    request.inputs[export.INPUT_KEY].CopyFrom(tf.make_tensor_proto(images))
    return request

  def test_grpc_predict_request_fits_and_runs_the_signature(self):
    if _SERVING_API_ERROR:
      self.skipTest(f"tensorflow-serving-api (test extra) absent: {_SERVING_API_ERROR}")
    request = self._predict_request(self.images)
    _check_against_signature(_request_tensors(request), self.signature)
    outputs = self.signature(**{name: tf.make_ndarray(proto)
                                for name, proto in request.inputs.items()})
    np.testing.assert_allclose(outputs[export.LOGITS_KEY].numpy(), self.expected,
                               **testing_utils.tolerance(np.float32))
    # The check is not vacuous: float pixels, a wrong key or a wrong size are rejected.
    with self.assertRaisesRegex(ValueError, "dtype float32"):
      _check_against_signature(
          _request_tensors(self._predict_request(self.images.astype(np.float32))),
          self.signature)
    with self.assertRaisesRegex(ValueError, "shape"):
      _check_against_signature(
          _request_tensors(self._predict_request(self.images[:, :16, :16])), self.signature)
    wrong_key = predict_pb2.PredictRequest()
    wrong_key.inputs["images"].CopyFrom(tf.make_tensor_proto(self.images))
    with self.assertRaisesRegex(ValueError, "signature inputs"):
      _check_against_signature(_request_tensors(wrong_key), self.signature)

  def test_rest_bodies_fit_and_run_the_signature(self):
    bodies = [
        {"signature_name": export.SIGNATURE_KEY, "instances": self.images.tolist()},
        {"signature_name": export.SIGNATURE_KEY,
         "instances": [{export.INPUT_KEY: image.tolist()} for image in self.images]},
        {"signature_name": export.SIGNATURE_KEY,
         "inputs": {export.INPUT_KEY: self.images.tolist()}},
    ]
    for body in bodies:
      tensors = _rest_tensors(json.loads(json.dumps(body)), self.signature)
      _check_against_signature(
          {name: (tf.as_dtype(value.dtype), list(value.shape)) for name, value in tensors.items()},
          self.signature)
      outputs = self.signature(**{name: tf.constant(value) for name, value in tensors.items()})
      np.testing.assert_allclose(outputs[export.LOGITS_KEY].numpy(), self.expected,
                                 **testing_utils.tolerance(np.float32))

  def test_real_tensorflow_model_server_answers_rest_and_grpc(self):
    if SERVER is None:
      self.skipTest("tensorflow_model_server is not on PATH (install it, or use the "
                    "tensorflow/serving docker image, to run this test)")
    if _SERVING_API_ERROR:
      self.skipTest(f"tensorflow-serving-api (test extra) absent: {_SERVING_API_ERROR}")
    import grpc  # pylint: disable=g-import-not-at-top
    grpc_port, rest_port = _free_port(), _free_port()
    server = subprocess.Popen(
        [SERVER, f"--port={grpc_port}", f"--rest_api_port={rest_port}",
         f"--model_config_file={self.paths.models_config}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    self.addCleanup(server.wait)
    self.addCleanup(server.terminate)
    status_url = f"http://localhost:{rest_port}/v1/models/{MODEL_NAME}"
    deadline = time.time() + 120
    while True:
      try:
        with urllib.request.urlopen(status_url, timeout=5) as reply:
          states = [v["state"] for v in json.load(reply)["model_version_status"]]
        if "AVAILABLE" in states:
          break
      except (urllib.error.URLError, ConnectionError, KeyError, ValueError):
        pass
      self.assertIsNone(server.poll(), "tensorflow_model_server exited")
      self.assertLess(time.time(), deadline, "the model did not become AVAILABLE in 120 s")
      time.sleep(0.5)

    body = json.dumps({"signature_name": export.SIGNATURE_KEY,
                       "instances": self.images.tolist()}).encode()
    predict = urllib.request.Request(f"{status_url}:predict", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(predict, timeout=60) as reply:
      predictions = json.load(reply)["predictions"]
    np.testing.assert_allclose([p[export.LOGITS_KEY] for p in predictions], self.expected,
                               **testing_utils.tolerance(np.float32))

    with grpc.insecure_channel(f"localhost:{grpc_port}") as channel:
      stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
      response = stub.Predict(self._predict_request(self.images), timeout=60)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs[export.LOGITS_KEY]),
                               self.expected, **testing_utils.tolerance(np.float32))


if __name__ == "__main__":
  absltest.main()
