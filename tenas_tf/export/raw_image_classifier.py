"""The exported classifier's one input contract: raw uint8 images in, logits out.

Training feeds a network normalised float images, `(x / 255 - mean) / std` with the training
set's per-channel statistics (`tenas_tf.data`). A user of an exported model has raw pixels, and
the statistics are not theirs to know; so the exported `.keras` model and the SavedModel take
the same thing, raw RGB pixels:

  inputs:  uint8   [N, S, S, 3]   0..255, as decoded from an image file
  outputs: float32 [N, classes]   logits

`RawImageClassifier` is that contract as a Keras model: it normalises the pixels, exactly as the
training pipelines do, and calls the trained network. The `.keras` file is this wrapper around
the network, and the SavedModel traces this wrapper, so both normalise with the same code.

A float batch is refused with a one-line error naming uint8, never reinterpreted: floats are
ambiguous (already normalised, or on the 0..1 or the 0..255 scale), and a guess would turn a
caller of the old float contract into silently wrong predictions.
"""

import keras
from keras import ops as kops

from tenas_tf import checks

_SERIAL_PACKAGE = "tenas_tf"
INPUT_DTYPE = "uint8"


def _channel_statistic(name, values, *, positive):
  """`values` as a tuple of 3 floats (R, G, B); ValueError naming `name` otherwise."""
  rule = "3 floats (R, G, B)" + (", each > 0" if positive else "")
  try:
    triple = tuple(checks.real(name, v) for v in values)
  except (TypeError, ValueError):
    triple = ()
  if len(triple) != 3 or (positive and min(triple) <= 0):
    raise ValueError(f"{name} must be {rule} on the [0, 1] scale; got {values!r}")
  return triple


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class RawImageClassifier(keras.Model):
  """A trained classifier of normalised images behind a raw uint8 image input.

  The model that `export_model` saves as `<model_name>.keras` and traces into the SavedModel:
  raw pixels in, `(pixels / 255 - mean) / std` (float32, the training pipelines' formula) into
  the network, its logits out. Training keeps feeding the bare network normalised floats; only
  the exported model has this input.

  Weights: exactly the network's, in its order (the normalisation has none), so `get_weights`
  equals the trained network's.

  Args:
    network: a Keras classifier of normalised float images [N, S, S, 3] -> logits (e.g. an
      `NB201Network` or `DartsNetwork`); not itself a `RawImageClassifier`.
    image_size: S.
    mean: per-channel (R, G, B) mean on the [0, 1] scale (`DatasetInfo.mean`).
    std: per-channel standard deviation on the [0, 1] scale (`DatasetInfo.std`), each > 0.

  Call args:
    images: uint8 [N, S, S, 3] raw RGB pixels, 0..255. Any other dtype (float included) raises
      ValueError: the model does not guess the scale of floats.
    training: passed to the network (BatchNorm and drop-path mode).

  Returns:
    The network's float32 logits [N, num_classes].

  Raises:
    ValueError: for a `network` that is already a `RawImageClassifier`, a bad `image_size`, or
      `mean` / `std` that are not 3 floats (std positive); when called, for images that are not
      uint8 [N, S, S, 3].

  Example:
    >>> info = tenas_tf.data.dataset_info("cifar10")
    >>> classifier = RawImageClassifier(network, 32, info.mean, info.std)
    >>> classifier(np.zeros([1, 32, 32, 3], np.uint8))  # logits [1, 10]
  """

  def __init__(self, network, image_size, mean, std, **kwargs):
    # autocast off: a float64 batch is reported as float64, not first cast to float32.
    super().__init__(autocast=False, **kwargs)
    if not isinstance(network, keras.layers.Layer) or isinstance(network, RawImageClassifier):
      raise ValueError(f"network must be a Keras classifier of normalised float images (not "
                       f"a RawImageClassifier: pass its .network); got {type(network).__name__}")
    self.network = network
    self.image_size = checks.integer("image_size", image_size, 1)
    self.mean = _channel_statistic("mean", mean, positive=False)
    self.std = _channel_statistic("std", std, positive=True)
    # The contract fixes the input shape, so the model is whole from the start: saved before
    # any call, it still writes its weights and its build config.
    self.build((None, self.image_size, self.image_size, 3))

  @property
  def num_classes(self):
    """The number of logits (the network's `num_classes`)."""
    return self.network.num_classes

  def build(self, input_shape):
    # The network is built already when wrapped after training, and unbuilt when loaded; a
    # second build would create a second set of variables.
    if not self.network.built:
      self.network.build(tuple(input_shape))

  def _check_images(self, images):
    dtype = keras.backend.standardize_dtype(images.dtype)
    size = self.image_size
    shape = tuple(images.shape)
    shape_ok = len(shape) == 4 and all(got in (None, want)
                                       for got, want in zip(shape[1:], (size, size, 3)))
    if dtype != INPUT_DTYPE or not shape_ok:
      raise ValueError(f"images must be {INPUT_DTYPE} [N, {size}, {size}, 3] raw RGB pixels "
                       f"0..255 (the model normalises them itself); got {dtype} "
                       f"{list(shape)}")

  def __call__(self, images, *args, **kwargs):
    # Checked before Keras runs `call`, which would wrap the error in a multi-line report.
    if hasattr(images, "dtype") and hasattr(images, "shape"):
      self._check_images(images)
    return super().__call__(images, *args, **kwargs)

  def call(self, images, training=None):
    self._check_images(images)  # again: `call` may be run without `__call__`
    pixels = kops.cast(images, "float32")
    mean = kops.convert_to_tensor(self.mean, dtype="float32")
    std = kops.convert_to_tensor(self.std, dtype="float32")
    return self.network((pixels / 255.0 - mean) / std, training=training)

  def compute_output_shape(self, input_shape):
    return self.network.compute_output_shape(input_shape)

  def get_config(self):
    config = super().get_config()
    config.update(network=keras.saving.serialize_keras_object(self.network),
                  image_size=self.image_size, mean=list(self.mean), std=list(self.std))
    return config

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    config["network"] = keras.saving.deserialize_keras_object(config.pop("network"))
    return cls(**config)
