"""A classifier as a SavedModel that TensorFlow Serving (or plain TensorFlow) runs on raw images.

The SavedModel holds one `tf.Module` with the model's variables and one traced function, the
`serving_default` signature:

  inputs:  image          uint8   [None, S, S, 3]   raw RGB pixels, 0..255
  outputs: probabilities  float32 [None, classes]   softmax of the logits
           logits         float32 [None, classes]

It normalises the pixels itself, `(image / 255 - mean) / std` with the training set's statistics,
so clients send images as they are. The Keras model is traced into the graph (inference mode:
BatchNorm's moving statistics, no drop-path) and not stored as an object: loading needs
TensorFlow only, not Keras layers and not tenas_tf.
"""

import tensorflow as tf

SIGNATURE_KEY = "serving_default"
INPUT_KEY = "image"
PROBABILITIES_KEY = "probabilities"
LOGITS_KEY = "logits"


def _tf_variable(variable):
  # A Keras 3 variable on the TensorFlow backend wraps a `tf.Variable` in `.value`.
  return variable.value if not isinstance(variable, tf.Variable) else variable


class ImageClassifierModule(tf.Module):
  """The serving module of a Keras image classifier: normalisation, logits, probabilities.

  Args:
    model: a built Keras model mapping normalised float images [B, S, S, 3] to logits.
    image_size: S.
    mean: per-channel (R, G, B) mean on the [0, 1] scale (`DatasetInfo.mean`).
    std: per-channel standard deviation on the [0, 1] scale (`DatasetInfo.std`).

  Raises:
    ValueError: if `image_size` is not a positive int or `mean` / `std` are not 3 numbers
      (std positive).

  Example:
    >>> module = ImageClassifierModule(model, 32, info.mean, info.std)
    >>> tf.saved_model.save(module, "export/tenas/1",
    ...                     signatures={SIGNATURE_KEY: module.serve})
  """

  def __init__(self, model, image_size, mean, std):
    super().__init__(name="image_classifier")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
      raise ValueError(f"image_size must be a positive int; got {image_size!r}")
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
      raise ValueError(f"mean and std must be 3 numbers each, std positive; got mean={mean!r}, "
                       f"std={std!r}")
    # Tracked, so the SavedModel saves them; the traced function reads them.
    self.model_variables = [_tf_variable(v) for v in model.variables]
    mean_t = tf.constant(mean, tf.float32)
    std_t = tf.constant(std, tf.float32)

    @tf.function(input_signature=[
        tf.TensorSpec([None, image_size, image_size, 3], tf.uint8, name=INPUT_KEY)])
    def serve(image):
      pixels = (tf.cast(image, tf.float32) / 255.0 - mean_t) / std_t
      logits = tf.cast(model(pixels, training=False), tf.float32)
      return {PROBABILITIES_KEY: tf.nn.softmax(logits), LOGITS_KEY: logits}

    self.serve = serve


def save_serving_model(model, path, image_size, mean, std):
  """Writes `model` as a SavedModel with the `serving_default` signature on raw uint8 images.

  Args:
    model: a built Keras classifier of normalised images (see `ImageClassifierModule`).
    path: the SavedModel folder (for TF Serving: `<base>/<model_name>/<version>`).
    image_size: side S of the input images.
    mean: per-channel mean on the [0, 1] scale.
    std: per-channel standard deviation on the [0, 1] scale.

  Returns:
    `path`.

  Example:
    >>> save_serving_model(model, "export/tenas/1", 32, info.mean, info.std)
    >>> served = tf.saved_model.load("export/tenas/1").signatures["serving_default"]
    >>> served(image=tf.zeros([1, 32, 32, 3], tf.uint8))["probabilities"]
  """
  module = ImageClassifierModule(model, image_size, mean, std)
  tf.saved_model.save(module, path, signatures={SIGNATURE_KEY: module.serve})
  return path
