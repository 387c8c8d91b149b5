"""A classifier as a SavedModel that TensorFlow Serving (or plain TensorFlow) runs on raw images.

The SavedModel holds one `tf.Module` with the model's variables and one traced function, the
`serving_default` signature:

  inputs:  image          uint8   [None, S, S, 3]   raw RGB pixels, 0..255
  outputs: probabilities  float32 [None, classes]   softmax of the logits
           logits         float32 [None, classes]

This is the input contract of the exported `.keras` model too: the traced model is the
`RawImageClassifier` that `export_model` saves, which normalises the pixels itself,
`(image / 255 - mean) / std` with the training set's statistics, so clients send images as they
are and both files give the same logits. The model is traced into the graph (inference mode:
BatchNorm's moving statistics, no drop-path) and not stored as an object: loading needs
TensorFlow only, not Keras layers and not tenas_tf.
"""

import tensorflow as tf

from tenas_tf.export import raw_image_classifier

SIGNATURE_KEY = "serving_default"
INPUT_KEY = "image"
PROBABILITIES_KEY = "probabilities"
LOGITS_KEY = "logits"


def _tf_variable(variable):
  # A Keras 3 variable on the TensorFlow backend wraps a `tf.Variable` in `.value`.
  return variable.value if not isinstance(variable, tf.Variable) else variable


class ImageClassifierModule(tf.Module):
  """The serving module of a `RawImageClassifier`: raw uint8 images in, logits, probabilities.

  Args:
    classifier: a `RawImageClassifier` (uint8 [B, S, S, 3] -> logits); the signature's image
      size S is its `image_size`.

  Raises:
    ValueError: if `classifier` is not a `RawImageClassifier` (a bare network of normalised
      floats would give a signature of another contract).

  Example:
    >>> module = ImageClassifierModule(RawImageClassifier(network, 32, info.mean, info.std))
    >>> tf.saved_model.save(module, "export/tenas/1",
    ...                     signatures={SIGNATURE_KEY: module.serve})
  """

  def __init__(self, classifier):
    super().__init__(name="image_classifier")
    if not isinstance(classifier, raw_image_classifier.RawImageClassifier):
      raise ValueError(f"classifier must be a RawImageClassifier (raw uint8 images in, "
                       f"normalised inside); got {type(classifier).__name__}")
    size = classifier.image_size
    # Tracked, so the SavedModel saves them; the traced function reads them.
    self.model_variables = [_tf_variable(v) for v in classifier.variables]

    @tf.function(input_signature=[
        tf.TensorSpec([None, size, size, 3], raw_image_classifier.INPUT_DTYPE, name=INPUT_KEY)])
    def serve(image):
      logits = tf.cast(classifier(image, training=False), tf.float32)
      return {PROBABILITIES_KEY: tf.nn.softmax(logits), LOGITS_KEY: logits}

    self.serve = serve


def save_serving_model(classifier, path):
  """Writes `classifier` as a SavedModel with the `serving_default` signature on raw uint8 images.

  Args:
    classifier: a `RawImageClassifier` (see `ImageClassifierModule`).
    path: the SavedModel folder (for TF Serving: `<base>/<model_name>/<version>`).

  Returns:
    `path`.

  Raises:
    ValueError: if `classifier` is not a `RawImageClassifier`.

  Example:
    >>> save_serving_model(RawImageClassifier(network, 32, info.mean, info.std), "export/tenas/1")
    >>> served = tf.saved_model.load("export/tenas/1").signatures["serving_default"]
    >>> served(image=tf.zeros([1, 32, 32, 3], tf.uint8))["probabilities"]
  """
  module = ImageClassifierModule(classifier)
  tf.saved_model.save(module, path, signatures={SIGNATURE_KEY: module.serve})
  return path
