r"""Exports a network for Keras users and for TensorFlow Serving.

  python -m tenas_tf.launch.export --run_dir=runs/c10_train --export_base=export \
    --model_name=nb201_c10

--run_dir is the run to export: a training run (its trained `model.keras`, dataset and image
size) or a search run (its genotype, built with untrained weights from --seed; --dataset gives the
input statistics when the search config lacks them). With --genotype (and --space) and a --run_dir
that holds neither, that untrained cell is exported and --run_dir only records the export. NB201
and DARTS genotypes alike; an untrained DARTS network takes --channels, --num_cells and, for
ImageNet-1k, --image_size, and has no auxiliary head. Writes
`<export_base>/<model_name>.keras`, the SavedModel `<export_base>/<model_name>/<version>/` and
`<export_base>/models.config`, and `export.json` and `export.flags` into --run_dir.
"""

import json
import os

from absl import app
from absl import logging

from tenas_tf import data as data_lib
from tenas_tf import export as export_lib
from tenas_tf import train as train_lib
from tenas_tf.launch import _cli
from tenas_tf.launch import flags as tenas_flags
from tenas_tf.experiments import run_files

# What a run directory holds, by the binary that wrote it.
_TRAINED_MODEL = train_lib.MODEL_FILE
_TRAIN_CONFIG = "train_config.json"
_SEARCH_RESULT = "result.json"


def _image_size(dataset):
  return tenas_flags.IMAGE_SIZE.value or data_lib.dataset_info(dataset).image_size


def _untrained(space, genotype, dataset):
  info = data_lib.dataset_info(dataset)
  options = train_lib.network_options(space, dataset, dict(
      channels=tenas_flags.CHANNELS.value, cells_per_stage=tenas_flags.CELLS_PER_STAGE.value,
      num_cells=tenas_flags.NUM_CELLS.value, auxiliary_weight=0.0, drop_path_rate=0.0))
  return train_lib.build_network(
      train_lib.parse_genotype(space, genotype), info.num_classes, _image_size(dataset),
      seed=tenas_flags.SEED.value, init=tenas_flags.INIT.value, **options)


def _check_same_genotype(space, genotype, where):
  """Raises if --genotype is given and is not `genotype` (compared as values, any form)."""
  arch = tenas_flags.GENOTYPE.value
  if arch is not None and (train_lib.parse_genotype(space, arch)
                           != train_lib.parse_genotype(space, genotype)):
    raise ValueError(f"--genotype {arch!r} differs from the genotype {where}, {genotype!r}")


def _source(run_dir):
  """(model, dataset name, image size, description, trained) of what --run_dir / --genotype
  name."""
  arch = tenas_flags.GENOTYPE.value
  model_path = os.path.join(run_dir, _TRAINED_MODEL)
  if os.path.isfile(model_path):
    config = run_files.read_json(os.path.join(run_dir, _TRAIN_CONFIG))
    _check_same_genotype(config.get("space", "nb201"), config["genotype"],
                         f"trained in {run_dir!r} (leave --genotype out to export it)")
    if not os.path.isfile(os.path.join(run_dir, _SEARCH_RESULT)):
      logging.warning("%s has no result.json: the training run is unfinished; exporting the "
                      "model of its latest epoch", run_dir)
    dataset = config["dataset"]
    image_size = config.get("image_size") or data_lib.dataset_info(dataset).image_size
    return (export_lib.load_keras_model(model_path), dataset, image_size,
            f"trained model {model_path}", True)
  result_path = os.path.join(run_dir, _SEARCH_RESULT)
  if os.path.isfile(result_path):
    result = run_files.read_json(result_path)
    search_config = result.get("config", {})
    space = search_config.get("space", tenas_flags.SPACE.value)
    _check_same_genotype(space, result["genotype"], f"found in {run_dir!r}")
    dataset = search_config.get("dataset", tenas_flags.DATASET.value)
    logging.warning("exporting the searched cell with UNTRAINED weights (seed %d)",
                    tenas_flags.SEED.value)
    return (_untrained(space, result["genotype"], dataset), dataset, _image_size(dataset),
            f"searched cell of {result_path}, untrained", False)
  if arch is None:
    raise ValueError(f"--run_dir {run_dir!r} holds neither a trained model ({_TRAINED_MODEL}) "
                     f"nor a search result ({_SEARCH_RESULT}); give --genotype to export an "
                     f"untrained cell")
  logging.warning("exporting --genotype with UNTRAINED weights (seed %d)", tenas_flags.SEED.value)
  dataset = tenas_flags.DATASET.value
  return (_untrained(tenas_flags.SPACE.value, arch, dataset), dataset, _image_size(dataset),
          "--genotype, untrained", False)


def _export():
  run_dir = tenas_flags.RUN_DIR.value
  export_base = tenas_flags.EXPORT_BASE.value
  if not export_base:
    raise ValueError(f"--export_base must name the export folder; got {export_base!r}")
  export_lib.check_model_name(tenas_flags.MODEL_NAME.value)
  model, dataset, image_size, description, trained = _source(run_dir)
  info = data_lib.dataset_info(dataset)
  paths = export_lib.export_model(
      model, export_base, tenas_flags.MODEL_NAME.value, image_size=image_size,
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
