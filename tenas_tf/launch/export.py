r"""Exports a network for Keras users and for TensorFlow Serving.

  python -m tenas_tf.launch.export --run_dir=runs/c10_train --export_base=export \
    --model_name=nb201_c10

--run_dir is the run to export: a training run (its trained `model.keras` and dataset) or a
search run (its genotype, built with untrained weights from --seed; --dataset gives the input
statistics when the search config lacks them). With --genotype and a --run_dir that holds neither,
that untrained cell is exported and --run_dir only records the export. Writes
`<export_base>/<model_name>.keras`, the SavedModel `<export_base>/<model_name>/<version>/` and
`<export_base>/models.config`, and `export.json` and `export.flags` into --run_dir.
"""

import json
import os

from absl import app
from absl import logging

from tenas_tf import export as export_lib
from tenas_tf import train as train_lib
from tenas_tf.data import datasets as datasets_lib
from tenas_tf.launch import _cli
from tenas_tf.launch import flags as tenas_flags
from tenas_tf.search import run_files

# What a run directory holds, by the binary that wrote it.
_TRAINED_MODEL = train_lib.MODEL_FILE
_TRAIN_CONFIG = "train_config.json"
_SEARCH_RESULT = "result.json"


def _untrained(space, arch, dataset):
  info = datasets_lib.dataset_info(dataset)
  return train_lib.build_network(
      train_lib.parse_genotype(space, arch), info.num_classes, info.image_size,
      seed=tenas_flags.SEED.value, init=tenas_flags.INIT.value,
      channels=tenas_flags.CHANNELS.value, cells_per_stage=tenas_flags.CELLS_PER_STAGE.value)


def _source(run_dir):
  """(model, dataset name, description, trained) of what --run_dir / --genotype name."""
  arch = tenas_flags.GENOTYPE.value
  model_path = os.path.join(run_dir, _TRAINED_MODEL)
  if os.path.isfile(model_path):
    config = run_files.read_json(os.path.join(run_dir, _TRAIN_CONFIG))
    if arch is not None and arch != config["genotype"]:
      raise ValueError(f"--genotype {arch!r} differs from the genotype trained in {run_dir!r}, "
                       f"{config['genotype']!r}; leave --genotype out to export the trained model")
    if not os.path.isfile(os.path.join(run_dir, _SEARCH_RESULT)):
      logging.warning("%s has no result.json: the training run is unfinished; exporting the "
                      "model of its latest epoch", run_dir)
    return (export_lib.load_keras_model(model_path), config["dataset"],
            f"trained model {model_path}", True)
  result_path = os.path.join(run_dir, _SEARCH_RESULT)
  if os.path.isfile(result_path):
    result = run_files.read_json(result_path)
    searched = result["genotype"]
    if arch is not None and arch != searched:
      raise ValueError(f"--genotype {arch!r} differs from the genotype found in {run_dir!r}, "
                       f"{searched!r}")
    search_config = result.get("config", {})
    dataset = search_config.get("dataset", tenas_flags.DATASET.value)
    logging.warning("exporting the searched cell with UNTRAINED weights (seed %d)",
                    tenas_flags.SEED.value)
    return (_untrained(search_config.get("space", tenas_flags.SPACE.value), searched, dataset),
            dataset, f"searched cell of {result_path}, untrained", False)
  if arch is None:
    raise ValueError(f"--run_dir {run_dir!r} holds neither a trained model ({_TRAINED_MODEL}) "
                     f"nor a search result ({_SEARCH_RESULT}); give --genotype to export an "
                     f"untrained cell")
  logging.warning("exporting --genotype with UNTRAINED weights (seed %d)", tenas_flags.SEED.value)
  return (_untrained(tenas_flags.SPACE.value, arch, tenas_flags.DATASET.value),
          tenas_flags.DATASET.value, "--genotype, untrained", False)


def _export():
  run_dir = tenas_flags.RUN_DIR.value
  export_base = tenas_flags.EXPORT_BASE.value
  if not export_base:
    raise ValueError(f"--export_base must name the export folder; got {export_base!r}")
  export_lib.check_model_name(tenas_flags.MODEL_NAME.value)
  model, dataset, description, trained = _source(run_dir)
  info = datasets_lib.dataset_info(dataset)
  paths = export_lib.export_model(
      model, export_base, tenas_flags.MODEL_NAME.value, image_size=info.image_size,
      mean=info.mean, std=info.std, version=tenas_flags.VERSION.value,
      serving_base_path=tenas_flags.SERVING_BASE_PATH.value)
  record = {"source": description, "trained": trained, "genotype": model.get_config()["genotype"],
            "dataset": info.name, "model_name": tenas_flags.MODEL_NAME.value,
            "version": paths.version, "keras_path": os.path.abspath(paths.keras_path),
            "saved_model_dir": os.path.abspath(paths.saved_model_dir),
            "models_config": os.path.abspath(paths.models_config)}
  run_files.check_writable(run_dir)
  run_files.write_json(os.path.join(run_dir, "export.json"), record)
  run_files.write_atomic(os.path.join(run_dir, "export.flags"),
                         tenas_flags.flagfile_text(tenas_flags.EXPORT_FLAGS))
  print(json.dumps(record, indent=2))


def main(argv):
  _cli.run_command(_export, argv)


def run_main():
  """Console-script entry point (`tenas-export`)."""
  app.run(main)


if __name__ == "__main__":
  run_main()
