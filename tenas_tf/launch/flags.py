"""Every command-line flag of the tenas_tf binaries, defined once.

Binaries import this module and turn the flag values into plain configuration objects; library
code never reads FLAGS.
"""

from absl import flags

SPACE = flags.DEFINE_string("space", "nb201", "Search space: nb201 or darts.")
DATASET = flags.DEFINE_string(
    "dataset", "cifar10",
    "Dataset: cifar10, cifar100, imagenet16-120, imagenet-1k (images resized to 32x32), or "
    "synthetic (random images, offline).")
DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "TFDS data directory (downloads there when the dataset is missing).")
DATA_NPZ = flags.DEFINE_list(
    "data_npz", None,
    "Comma-separated .npz files with uint8 images under key `x` [N,H,W,3]; replaces TFDS.")
SYNTHETIC_COUNT = flags.DEFINE_integer(
    "synthetic_count", 512, "Number of random images for --dataset=synthetic.")
IMAGE_DIR = flags.DEFINE_string(
    "image_dir", None,
    "--dataset=imagenet-1k: a folder of class sub-folders of JPEG / PNG files (ILSVRC2012 "
    "train/), read in a permutation of --seed; replaces TFDS.")
TFRECORDS = flags.DEFINE_list(
    "tfrecords", None,
    "--dataset=imagenet-1k: comma-separated TFRecord files or glob patterns of tf.train.Examples "
    "with `image/encoded` (e.g. /data/imagenet/train-*); replaces TFDS.")
MANUAL_DIR = flags.DEFINE_string(
    "manual_dir", None,
    "--dataset=imagenet-1k from TFDS imagenet2012: the folder holding ILSVRC2012_img_train.tar "
    "and ILSVRC2012_img_val.tar, prepared once into --data_dir.")
CACHE_DIR = flags.DEFINE_string(
    "cache_dir", None,
    "Folder for the decoded images of --image_dir, --tfrecords or TFDS (default: memory); later "
    "runs read them instead of decoding.")
MAX_IMAGES = flags.DEFINE_integer(
    "max_images", None,
    "Use only the first N (>= 1) images of the source; file sources are decoded up front.")
SEED = flags.DEFINE_integer("seed", 0, "Seed of weights, batches and crops.")
RUN_DIR = flags.DEFINE_string("run_dir", None, "Output directory of the run.", required=True)
NB201_TABLE = flags.DEFINE_string(
    "nb201_table", None,
    "CSV of NB201 accuracies (arch_str, cifar10_test_acc, cifar100_test_acc, "
    "imagenet16_test_acc) to report the found cell's accuracies.")
BATCH_SIZE = flags.DEFINE_integer("batch_size", 72, "NTK batch size (>= 2).")
LR_BATCH_SIZE = flags.DEFINE_integer(
    "lr_batch_size", 1000, "Samples per linear-region batch (3x3x1 crops).")
LR_BATCHES = flags.DEFINE_integer("lr_batches", 3, "Linear-region batches per count.")
REPEATS = flags.DEFINE_integer("repeats", 3, "Draws averaged per candidate score (>= 1).")
PRUNE_NUMBER = flags.DEFINE_integer(
    "prune_number", 1,
    "Ops removed per edge per round (>= 1; NB201: 1, DARTS: 3 on CIFAR-10, 2 on ImageNet).")
INIT = flags.DEFINE_enum(
    "init", "pytorch_default", ["pytorch_default", "kaiming_normal"],
    "Weight init of the indicator networks (pytorch_default produced the paper's numbers).")
COMMON_BATCHES = flags.DEFINE_bool(
    "common_batches", False,
    "Score all candidates of a round on the same batches (faster, less noisy); False draws a "
    "fresh batch per candidate and repeat, as the reference does.")
DETERMINISTIC_OPS = flags.DEFINE_bool(
    "deterministic_ops", True, "Turn on TensorFlow op determinism (same seed, same result).")

SEARCH_FLAGS = (SPACE, DATASET, DATA_DIR, DATA_NPZ, SYNTHETIC_COUNT, IMAGE_DIR, TFRECORDS,
                MANUAL_DIR, CACHE_DIR, MAX_IMAGES, SEED, RUN_DIR, NB201_TABLE, BATCH_SIZE,
                LR_BATCH_SIZE, LR_BATCHES, REPEATS, PRUNE_NUMBER, INIT, COMMON_BATCHES,
                DETERMINISTIC_OPS)

# Evaluation (`tenas_tf.launch.evaluate`); it also reads the data and search flags above.
EVALUATE_MODES = ("correlation", "seeds", "score")
MODE = flags.DEFINE_enum(
    "mode", None, list(EVALUATE_MODES),
    "Evaluation: correlation (indicators of fixed NB201 cells against their NB201 accuracies), "
    "seeds (the search once per --seeds, summarised as the paper's table) or score (the "
    "indicators of fixed cells of --space, into scores.csv).")
ARCHS = flags.DEFINE_string(
    "archs", None,
    "correlation / score: CSV file of the cells to score: an arch_str column (nb201) or a "
    "genotype_json column (darts); other columns are ignored (correlation: or use --num_archs).")
NUM_ARCHS = flags.DEFINE_integer(
    "num_archs", None,
    "correlation: score this many cells (>= 2) drawn at random (--seed) from --nb201_table.")
DRAWS = flags.DEFINE_integer(
    "draws", 3,
    "correlation / score: independent draws of weights and inputs per cell (>= 1).")
SEEDS = flags.DEFINE_list(
    "seeds", None, "seeds: comma-separated search seeds, e.g. 0,1,2,3,4.")

EVALUATE_FLAGS = SEARCH_FLAGS + (MODE, ARCHS, NUM_ARCHS, DRAWS, SEEDS)


def flagfile_text(flag_holders):
  """The given flags' current values as a flag file (`--name=value` per line)."""
  lines = []
  for holder in flag_holders:
    value = holder.value
    if value is None:
      continue
    if isinstance(value, bool):
      lines.append(f"--{holder.name}" if value else f"--no{holder.name}")
    elif isinstance(value, list):
      lines.append(f"--{holder.name}={','.join(value)}")
    else:
      lines.append(f"--{holder.name}={value}")
  return "\n".join(lines) + "\n"


# Retraining (`tenas_tf.launch.train`). It also reads --space, --dataset, --data_dir, --data_npz
# (training images with labels: keys `x` and `y`), --synthetic_count, --seed, --run_dir, --init,
# --deterministic_ops and --batch_size (here the global training batch) from above.
SEARCH_RUN_DIR = flags.DEFINE_string(
    "search_run_dir", None,
    "train: a search's run directory; its result.json's genotype is trained (or --genotype).")
GENOTYPE = flags.DEFINE_string(
    "genotype", None,
    "train / export: the cell: an NB201 arch string, e.g. "
    "'|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|', "
    "or (--space=darts) DARTS' text form \"Genotype(normal=[('sep_conv_3x3', 0), ...], ...)\" "
    "or the JSON form result.json stores.")
EVAL_NPZ = flags.DEFINE_list(
    "eval_npz", None,
    "train: comma-separated .npz files of held-out images `x` and labels `y`, evaluated after "
    "every epoch (default with TFDS: the test split; with --data_npz: none).")
EPOCHS = flags.DEFINE_integer("epochs", 200, "train: epochs (NB201: 200).")
STEPS_PER_EPOCH = flags.DEFINE_integer(
    "steps_per_epoch", None, "train: batches per epoch (default: one pass over the images).")
LEARNING_RATE = flags.DEFINE_float(
    "learning_rate", 0.1, "train: peak learning rate, annealed to 0 by a cosine (NB201: 0.1).")
WEIGHT_DECAY = flags.DEFINE_float(
    "weight_decay", 5e-4,
    "train: coupled L2 weight decay on every trainable variable, PyTorch's SGD weight_decay "
    "(NB201: 5e-4).")
LABEL_SMOOTHING = flags.DEFINE_float("label_smoothing", 0.0, "train: label smoothing.")
CUTOUT = flags.DEFINE_integer(
    "cutout", 16, "train: cutout square side in pixels, 0 for none (NB201's protocol: 0).")
DROP_PATH_RATE = flags.DEFINE_float(
    "drop_path_rate", 0.0, "train: per-sample drop-path probability of non-identity edges.")
CHANNELS = flags.DEFINE_integer("channels", 16, "train / export: C, the first stage's width.")
CELLS_PER_STAGE = flags.DEFINE_integer(
    "cells_per_stage", 5, "train / export: N, cells per stage.")
STRATEGY = flags.DEFINE_enum(
    "strategy", "default", ["default", "mirrored", "multi_worker"],
    "train: tf.distribute strategy (mirrored: all GPUs, else all logical CPU devices; "
    "multi_worker: the cluster in TF_CONFIG).")
NUM_CPU_DEVICES = flags.DEFINE_integer(
    "num_cpu_devices", None,
    "train: split the CPU into this many logical devices (to run --strategy=mirrored without "
    "GPUs).")
MIXED_PRECISION = flags.DEFINE_bool(
    "mixed_precision", False, "train: float16 compute, float32 variables (GPU only).")
NESTEROV = flags.DEFINE_bool(
    "nesterov", True, "train: Nesterov momentum (NB201: yes; DARTS: --nonesterov).")
NUM_CELLS = flags.DEFINE_integer(
    "num_cells", 20, "train / export: DARTS: number of cells (CIFAR: 20, ImageNet: 14).")
AUXILIARY_WEIGHT = flags.DEFINE_float(
    "auxiliary_weight", 0.0,
    "train: DARTS: weight of the auxiliary head's loss (CIFAR recipe: 0.4); 0 builds no head.")
IMAGE_SIZE = flags.DEFINE_integer(
    "image_size", None,
    "train / export: side of the network's input images (default: the dataset's); "
    "--dataset=imagenet-1k only (DARTS' ImageNet recipe: 224).")
TRAIN_IMAGE_DIR = flags.DEFINE_string(
    "train_image_dir", None,
    "train: --dataset=imagenet-1k: folder of class sub-folders of training images "
    "(ILSVRC2012 train/), read with random-resized crops.")
EVAL_IMAGE_DIR = flags.DEFINE_string(
    "eval_image_dir", None,
    "train: --dataset=imagenet-1k: folder of the same class sub-folders of held-out images "
    "(ILSVRC2012 val/ sorted into classes), evaluated after every epoch.")

TRAIN_FLAGS = (SPACE, DATASET, DATA_DIR, DATA_NPZ, SYNTHETIC_COUNT, SEED, RUN_DIR, INIT,
               DETERMINISTIC_OPS, BATCH_SIZE, SEARCH_RUN_DIR, GENOTYPE, EVAL_NPZ, EPOCHS,
               STEPS_PER_EPOCH, LEARNING_RATE, WEIGHT_DECAY, LABEL_SMOOTHING, CUTOUT,
               DROP_PATH_RATE, CHANNELS, CELLS_PER_STAGE, STRATEGY, NUM_CPU_DEVICES,
               MIXED_PRECISION, NESTEROV, NUM_CELLS, AUXILIARY_WEIGHT, IMAGE_SIZE,
               TRAIN_IMAGE_DIR, EVAL_IMAGE_DIR)

# Export (`tenas_tf.launch.export`). --run_dir is the run to export (a training run: its trained
# model; a search run: its genotype, untrained) or, with --genotype, a new folder recording the
# export; it also reads --space, --dataset, --seed, --init, --channels, --cells_per_stage,
# --num_cells and --image_size.
EXPORT_BASE = flags.DEFINE_string(
    "export_base", None,
    "export: folder receiving <model_name>.keras, <model_name>/<version>/ (SavedModel) and "
    "models.config.")
MODEL_NAME = flags.DEFINE_string(
    "model_name", "tenas", "export: the model's name in TF Serving (letters, digits, . _ -).")
VERSION = flags.DEFINE_integer(
    "version", None, "export: SavedModel version (default: one more than the latest there).")
SERVING_BASE_PATH = flags.DEFINE_string(
    "serving_base_path", "/models",
    "export: where the server sees --export_base; models.config's base_path is "
    "<serving_base_path>/<model_name> (/models for the tensorflow/serving image).")

EXPORT_FLAGS = (SPACE, DATASET, SEED, RUN_DIR, INIT, GENOTYPE, CHANNELS, CELLS_PER_STAGE,
                NUM_CELLS, IMAGE_SIZE, EXPORT_BASE, MODEL_NAME, VERSION, SERVING_BASE_PATH)
