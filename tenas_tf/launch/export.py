r"""Exports a network for Keras users and for TensorFlow Serving.

  python -m tenas_tf.launch.export --run_dir=runs/c10_train --export_base=export \
    --model_name=nb201_c10

--run_dir is the run to export, by the kind its run.json names: a training run (its trained
`model.keras`, dataset and image size) or a search run (its genotype, built with untrained weights
from --seed; --dataset gives the input statistics when the search result lacks them). A folder
holding no run takes --genotype (and --space): that untrained cell is exported and the folder
records the export. An untrained DARTS network takes --channels, --num_cells and, for
ImageNet-1k, --image_size, and has no auxiliary head. Writes `<export_base>/<model_name>.keras`,
the SavedModel `<export_base>/<model_name>/<version>/` and `<export_base>/models.config`, and
`export.json` and `export.flags` into --run_dir (`tenas_tf.experiments.export_run`).
"""

import json

from absl import flags

from tenas_tf import experiments
from tenas_tf.launch import _cli
from tenas_tf.launch import flags as tenas_flags

RUN_DIR = tenas_flags.run_dir()
SPACE = tenas_flags.space()
DATASET = tenas_flags.dataset()
SEED = tenas_flags.seed()
INIT = tenas_flags.init()
GENOTYPE = tenas_flags.genotype()
CHANNELS, CELLS_PER_STAGE, NUM_CELLS, IMAGE_SIZE = tenas_flags.network()
EXPORT_BASE = flags.DEFINE_string(
    "export_base", None,
    "Folder receiving <model_name>.keras, <model_name>/<version>/ (SavedModel) and "
    "models.config.")
MODEL_NAME = flags.DEFINE_string(
    "model_name", "tenas", "The model's name in TF Serving (letters, digits, . _ -).")
VERSION = flags.DEFINE_integer(
    "version", None, "SavedModel version (default: one more than the latest there).",
    lower_bound=1)
SERVING_BASE_PATH = flags.DEFINE_string(
    "serving_base_path", "/models",
    "Where the server sees --export_base; models.config's base_path is "
    "<serving_base_path>/<model_name> (/models for the tensorflow/serving image).")
FLAGS = (SPACE, DATASET, SEED, RUN_DIR, INIT, GENOTYPE, CHANNELS, CELLS_PER_STAGE, NUM_CELLS,
         IMAGE_SIZE, EXPORT_BASE, MODEL_NAME, VERSION, SERVING_BASE_PATH)


def _export():
  # --genotype stays text here: it is read in the space of the run it names (or --space).
  job = experiments.ExportJob(
      run_dir=RUN_DIR.value, export_base=EXPORT_BASE.value, model_name=MODEL_NAME.value,
      genotype=GENOTYPE.value, space=SPACE.value, dataset=DATASET.value, seed=SEED.value,
      init=INIT.value, channels=CHANNELS.value, cells_per_stage=CELLS_PER_STAGE.value,
      num_cells=NUM_CELLS.value, image_size=IMAGE_SIZE.value, version=VERSION.value,
      serving_base_path=SERVING_BASE_PATH.value, flag_file=tenas_flags.flagfile_text(FLAGS))
  print(json.dumps(experiments.export_run(job), indent=2))


def main(argv):
  _cli.run_command(_export, argv)


def run_main():
  """Console-script entry point (`tenas-export`)."""
  _cli.run(main, FLAGS)


if __name__ == "__main__":
  run_main()
