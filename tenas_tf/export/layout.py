"""TensorFlow Serving's folder layout and its `--model_config_file`.

TF Serving watches `<base_path>` and serves the numbered version folders in it:

  <export_base>/models.config             model_config_list, one config per model
  <export_base>/<model_name>/<version>/   a SavedModel (saved_model.pb, variables/)

A version folder appears whole (it is written under a hidden name and renamed), so a server
polling the folder never loads half a SavedModel.
"""

import os
import posixpath
import re

CONFIG_FILE = "models.config"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_model_name(name):
  """Returns `name` if it is a valid model name: letters, digits, '.', '_', '-' (not first).

  The name is a folder name and part of the REST URL `/v1/models/<name>:predict`.

  Raises:
    ValueError: naming the bad value.
  """
  if not isinstance(name, str) or not _NAME.match(name):
    raise ValueError(f"model_name must be letters, digits, '.', '_' or '-' (starting with a "
                     f"letter or digit); got {name!r}")
  return name


def versions(model_dir):
  """The version numbers of the SavedModels in `model_dir`, ascending ([] if none)."""
  if not os.path.isdir(model_dir):
    return []
  return sorted(int(entry) for entry in os.listdir(model_dir)
                if entry.isdigit() and os.path.isfile(
                    os.path.join(model_dir, entry, "saved_model.pb")))


def next_version(model_dir):
  """One more than the latest version in `model_dir`; 1 for a new model."""
  existing = versions(model_dir)
  return existing[-1] + 1 if existing else 1


def served_models(export_base):
  """Names of the models under `export_base` that have at least one version, sorted."""
  if not os.path.isdir(export_base):
    return []
  return sorted(entry for entry in os.listdir(export_base)
                if _NAME.match(entry) and versions(os.path.join(export_base, entry)))


def _quoted(text):
  return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def models_config_text(names, serving_base_path):
  """The text proto of a `ModelServerConfig` serving `names` from `<serving_base_path>/<name>`.

  Args:
    names: model names (`check_model_name`).
    serving_base_path: the export folder as the server sees it (`/models` in the
      tensorflow/serving image with `-v $PWD/export:/models`).

  Returns:
    A `model_config_list { config { name, base_path, model_platform: "tensorflow" } ... }`
    text, for `tensorflow_model_server --model_config_file=...`.

  Example:
    >>> print(models_config_text(["tenas"], "/models"))
    model_config_list {
      config {
        name: "tenas"
        base_path: "/models/tenas"
        model_platform: "tensorflow"
      }
    }
  """
  lines = ["model_config_list {"]
  for name in names:
    lines += ["  config {",
              f"    name: {_quoted(check_model_name(name))}",
              f"    base_path: {_quoted(posixpath.join(serving_base_path, name))}",
              '    model_platform: "tensorflow"',
              "  }"]
  lines.append("}")
  return "\n".join(lines) + "\n"


def write_models_config(export_base, serving_base_path):
  """Writes `<export_base>/models.config` listing every model with a version there.

  Returns:
    The path written.
  """
  path = os.path.join(export_base, CONFIG_FILE)
  temporary = path + ".tmp"
  with open(temporary, "w") as stream:
    stream.write(models_config_text(served_models(export_base), serving_base_path))
  os.replace(temporary, path)
  return path
