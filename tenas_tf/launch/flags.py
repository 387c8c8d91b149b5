"""Every command-line flag of the tenas_tf binaries, defined once.

Binaries import this module and turn the flag values into plain configuration objects; library
code never reads FLAGS.
"""

from absl import flags

SPACE = flags.DEFINE_string("space", "nb201", "Search space: nb201.")
DATASET = flags.DEFINE_string(
    "dataset", "cifar10",
    "Dataset: cifar10, cifar100, imagenet16-120, or synthetic (random images, offline).")
DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "TFDS data directory (downloads there when the dataset is missing).")
DATA_NPZ = flags.DEFINE_list(
    "data_npz", None,
    "Comma-separated .npz files with uint8 images under key `x` [N,H,W,3]; replaces TFDS.")
SYNTHETIC_COUNT = flags.DEFINE_integer(
    "synthetic_count", 512, "Number of random images for --dataset=synthetic.")
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
    "prune_number", 1, "Ops removed per edge per round (>= 1; NB201: 1).")
INIT = flags.DEFINE_enum(
    "init", "pytorch_default", ["pytorch_default", "kaiming_normal"],
    "Weight init of the indicator networks (pytorch_default produced the paper's numbers).")
COMMON_BATCHES = flags.DEFINE_bool(
    "common_batches", False,
    "Score all candidates of a round on the same batches (faster, less noisy); False draws a "
    "fresh batch per candidate and repeat, as the reference does.")
DETERMINISTIC_OPS = flags.DEFINE_bool(
    "deterministic_ops", True, "Turn on TensorFlow op determinism (same seed, same result).")

SEARCH_FLAGS = (SPACE, DATASET, DATA_DIR, DATA_NPZ, SYNTHETIC_COUNT, SEED, RUN_DIR, NB201_TABLE,
                BATCH_SIZE, LR_BATCH_SIZE, LR_BATCHES, REPEATS, PRUNE_NUMBER, INIT,
                COMMON_BATCHES, DETERMINISTIC_OPS)

# Evaluation (`tenas_tf.launch.evaluate`); it also reads the data and search flags above.
EVALUATE_MODES = ("correlation", "seeds")
MODE = flags.DEFINE_enum(
    "mode", None, list(EVALUATE_MODES),
    "Evaluation: correlation (indicators of fixed NB201 cells against their NB201 accuracies) "
    "or seeds (the search once per --seeds, summarised as the paper's table).")
ARCHS = flags.DEFINE_string(
    "archs", None,
    "correlation: CSV file with an arch_str column, the NB201 cells to score "
    "(or use --num_archs).")
NUM_ARCHS = flags.DEFINE_integer(
    "num_archs", None,
    "correlation: score this many cells (>= 2) drawn at random (--seed) from --nb201_table.")
DRAWS = flags.DEFINE_integer(
    "draws", 3, "correlation: independent draws of weights and inputs per cell (>= 1).")
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
