"""One call that exports a trained classifier for Keras users and for TensorFlow Serving.

Both files keep one input contract, raw uint8 images [N, S, S, 3] (`raw_image_classifier`):
the `.keras` model is a `RawImageClassifier` around the trained network, and the SavedModel
traces that same model.
"""

import dataclasses
import os
import shutil
import tempfile

import keras

from tenas_tf.export import layout
from tenas_tf.export import raw_image_classifier
from tenas_tf.export import serving


@dataclasses.dataclass(frozen=True)
class ExportPaths:
  """Where `export_model` wrote.

  Attributes:
    keras_path: `<export_base>/<model_name>.keras`.
    saved_model_dir: `<export_base>/<model_name>/<version>`.
    models_config: `<export_base>/models.config`.
    version: the SavedModel's version number.
  """

  keras_path: str
  saved_model_dir: str
  models_config: str
  version: int


def inference_copy(model, image_size):
  """A fresh, uncompiled float32 copy of `model` with the same weights (no optimizer state).

  Rebuilds the model from its config (so the copy is what `keras.saving.load_model` would
  give) under a float32 policy, also when it was trained in mixed precision.

  Args:
    model: a built Keras model with `get_config` / `from_config`.
    image_size: side S of its [S, S, 3] inputs.

  Returns:
    The built copy; its weights equal the model's bit for bit.
  """
  config = dict(model.get_config(), dtype="float32")
  copy = type(model).from_config(config)
  copy.build((None, image_size, image_size, 3))
  copy.set_weights(model.get_weights())
  return copy


def _check_version(version):
  if isinstance(version, bool) or not isinstance(version, int) or version < 1:
    raise ValueError(f"version must be a positive int (a TF Serving version folder); "
                     f"got {version!r}")
  return version


def export_model(model, export_base, model_name, *, image_size, mean, std, version=None,
                 serving_base_path="/models"):
  """Exports a classifier as `.keras` and as a TF Serving SavedModel, and writes models.config.

  One input contract for both files: raw RGB pixels, uint8 [N, S, S, 3] (0..255), normalised
  inside the model with the dataset's `mean` and `std` exactly as training normalised them;
  float32 logits [N, classes] out. A float batch is refused by the `.keras` model with a one-line
  ValueError naming uint8 (floats are ambiguous: already normalised, or on which scale?), and by
  the SavedModel's signature, whose input is typed uint8.

  Writes:
    - `<export_base>/<model_name>.keras`: a `RawImageClassifier` (uncompiled, float32) around a
      copy of `model`; its `.network` is the trained network, its weights are the network's.
      It reloads with `load_keras_model` (or `keras.saving.load_model` once `tenas_tf.export`
      is imported) and gives identical outputs.
    - `<export_base>/<model_name>/<version>/`: the SavedModel of `serving.ImageClassifierModule`
      (raw uint8 `image` in, `probabilities` and `logits` out), traced from the same
      `RawImageClassifier`; needs TensorFlow only.
    - `<export_base>/models.config`: every model under `export_base`, for
      `tensorflow_model_server --model_config_file`.

  Args:
    model: a built Keras classifier of normalised float images, as training feeds it (an
      `NB201Network` or `DartsNetwork`); not a `RawImageClassifier` (pass its `.network`).
    export_base: the export folder (created).
    model_name: the served name (`layout.check_model_name`).
    image_size: side S of the input images.
    mean: per-channel mean on the [0, 1] scale the model was trained with.
    std: per-channel standard deviation on the [0, 1] scale.
    version: the version number; None takes one more than the latest there (1 at first).
    serving_base_path: the export folder as the server sees it (see `layout`).

  Returns:
    `ExportPaths`.

  Raises:
    ValueError: for a bad model name, version, image size, mean or std (before anything is
      written), a `model` that is already a `RawImageClassifier`, or a version that already
      exists (TF Serving versions are immutable: export a new one).

  Example:
    >>> info = tenas_tf.data.dataset_info("cifar10")
    >>> paths = export_model(model, "export", "nb201_c10", image_size=32, mean=info.mean,
    ...                      std=info.std)
    >>> exported = load_keras_model(paths.keras_path)
    >>> exported(np.zeros([1, 32, 32, 3], np.uint8))  # logits, as the SavedModel serves them
  """
  layout.check_model_name(model_name)
  model_dir = os.path.join(export_base, model_name)
  version = layout.next_version(model_dir) if version is None else _check_version(version)
  saved_model_dir = os.path.join(model_dir, str(version))
  if os.path.exists(saved_model_dir):
    raise ValueError(f"version {version} of model {model_name!r} already exists at "
                     f"{saved_model_dir!r}; export another version")
  if isinstance(model, raw_image_classifier.RawImageClassifier):
    raise ValueError(f"model must be a network of normalised float images; got a "
                     f"RawImageClassifier (an exported model): pass its .network")
  # Checked (image size, mean, std) before the first file is written.
  classifier = raw_image_classifier.RawImageClassifier(
      inference_copy(model, image_size), image_size, mean, std, dtype="float32")
  os.makedirs(model_dir, exist_ok=True)
  keras_path = os.path.join(export_base, f"{model_name}.keras")
  classifier.save(keras_path)
  # Written under a hidden name, then renamed: a polling server sees the version whole or not.
  staging = tempfile.mkdtemp(dir=model_dir, prefix=f".{version}-")
  try:
    serving.save_serving_model(classifier, staging)
    os.chmod(staging, 0o755)  # mkdtemp's 0700 would hide the version from a server's user
    os.replace(staging, saved_model_dir)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  config_path = layout.write_models_config(export_base, serving_base_path)
  return ExportPaths(keras_path=keras_path, saved_model_dir=saved_model_dir,
                     models_config=config_path, version=version)


def load_keras_model(path):
  """Loads a `.keras` file, uncompiled, with tenas_tf's layers and models registered.

  Args:
    path: a `.keras` file written by `export_model` or by training.

  Returns:
    For an export, the `RawImageClassifier` (raw uint8 images [N, S, S, 3] in, the contract of
    `export_model`); for training's `model.keras`, the bare network (normalised float images in,
    as training feeds it).

  Example:
    >>> exported = load_keras_model("export/nb201_c10.keras")
    >>> exported.network  # the trained network, for normalised floats
  """
  return keras.saving.load_model(path, compile=False)
