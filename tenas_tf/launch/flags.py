"""Flags that several tenas_tf binaries share, each defined the first time a binary asks for it.

A binary calls the definers of the flags it uses at import and defines its own flags itself, so
it accepts exactly its flags: a flag of another binary is absl's "Unknown command line flag", and
`--help` lists what the binary reads. Definers are cached because a test process imports several
binaries and absl refuses to define one flag twice; every binary then gets the same holder.
Values are checked where absl can (enums, bounds); the rules between flags stay in the library,
whose messages name the flag.
"""

import functools

from absl import flags

from tenas_tf import data
from tenas_tf import spaces


@functools.cache
def run_dir():
  return flags.DEFINE_string("run_dir", None, "Output directory of the run.", required=True)


@functools.cache
def space():
  return flags.DEFINE_enum("space", "nb201", list(spaces.SPACES), "Search space.")


@functools.cache
def dataset():
  return flags.DEFINE_enum(
      "dataset", "cifar10", list(data.DATASETS),
      "Dataset: its image size, classes and normalisation (imagenet-1k: images resized to "
      "32x32 for the indicators; synthetic: random images, offline).")


@functools.cache
def seed():
  return flags.DEFINE_integer("seed", 0, "Seed of weights, batches, crops and shuffles.",
                              lower_bound=0)


@functools.cache
def init():
  return flags.DEFINE_enum(
      "init", "pytorch_default", list(spaces.INIT_SCHEMES),
      "Weight initialisation (pytorch_default produced the paper's numbers).")


@functools.cache
def deterministic_ops():
  return flags.DEFINE_bool("deterministic_ops", True,
                           "Turn on TensorFlow op determinism (same seed, same result).")


@functools.cache
def labelled_data():
  """--data_dir, --data_npz, --synthetic_count: the sources of search and training alike."""
  return (
      flags.DEFINE_string(
          "data_dir", None, "TFDS data directory (downloads there when the dataset is missing)."),
      flags.DEFINE_list(
          "data_npz", None,
          "Comma-separated .npz files of uint8 images under key `x` [N,H,W,3] (training: and "
          "labels `y`); replaces TFDS."),
      flags.DEFINE_integer("synthetic_count", 512,
                           "Number of random images for --dataset=synthetic.", lower_bound=1),
  )


@functools.cache
def image_files():
  """--image_dir, --tfrecords, --manual_dir, --cache_dir, --max_images: indicator images."""
  return (
      flags.DEFINE_string(
          "image_dir", None,
          "--dataset=imagenet-1k: a folder of class sub-folders of JPEG / PNG files (ILSVRC2012 "
          "train/), read in a permutation of --seed; replaces TFDS."),
      flags.DEFINE_list(
          "tfrecords", None,
          "--dataset=imagenet-1k: comma-separated TFRecord files or glob patterns of "
          "tf.train.Examples with `image/encoded` (e.g. /data/imagenet/train-*); replaces TFDS."),
      flags.DEFINE_string(
          "manual_dir", None,
          "--dataset=imagenet-1k from TFDS imagenet2012: the folder holding "
          "ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar, prepared once into --data_dir."),
      flags.DEFINE_string(
          "cache_dir", None,
          "Folder for the decoded images of --image_dir, --tfrecords or TFDS (default: memory); "
          "later runs read them instead of decoding."),
      flags.DEFINE_integer(
          "max_images", None,
          "Use only the first N images of the source; file sources are decoded up front.",
          lower_bound=1),
  )


@functools.cache
def indicator_sizes():
  """--ntk_batch_size, --lr_batch_size, --lr_batches: the indicators' inputs."""
  return (
      flags.DEFINE_integer("ntk_batch_size", 72,
                           "Images per NTK batch (NB201: 72, DARTS: 14 CIFAR / 24 ImageNet).",
                           lower_bound=2),
      flags.DEFINE_integer("lr_batch_size", 1000,
                           "Samples per linear-region batch (3x3x1 crops).", lower_bound=1),
      flags.DEFINE_integer("lr_batches", 3, "Linear-region batches per count.", lower_bound=1),
  )


@functools.cache
def pruning():
  """--repeats, --prune_number, --common_batches: the pruning rounds of a search."""
  return (
      flags.DEFINE_integer("repeats", 3, "Draws averaged per candidate score.", lower_bound=1),
      flags.DEFINE_integer(
          "prune_number", 1,
          "Ops removed per edge per round (NB201: 1, DARTS: 3 on CIFAR-10, 2 on ImageNet); "
          "below the ops an edge starts with.", lower_bound=1),
      flags.DEFINE_bool(
          "common_batches", False,
          "Score all candidates of a round on the same batches (faster, less noisy); False "
          "draws a fresh batch per candidate and repeat, as the reference does."),
  )


@functools.cache
def ray_workers():
  """--workers, --ray_address: where candidates and cells are scored (this process, or Ray)."""
  return (
      flags.DEFINE_integer(
          "workers", 0,
          "Score the candidates of each search round (evaluate: or the fixed cells) on this many "
          "Ray workers of a local Ray instance (one GPU each where there are GPUs); 0 scores "
          "them in this process. Same result either way. Needs pip install 'tenas_tf[ray]'.",
          lower_bound=0),
      flags.DEFINE_string(
          "ray_address", None,
          "Join this Ray cluster (host:port, auto, ray://...) and score on --workers of its "
          "workers (default 1)."),
  )


@functools.cache
def nb201_table():
  return flags.DEFINE_string(
      "nb201_table", None,
      "CSV of NB201 accuracies (arch_str, cifar10_test_acc, cifar100_test_acc, "
      "imagenet16_test_acc) to report the found cells' accuracies.")


@functools.cache
def genotype():
  return flags.DEFINE_string(
      "genotype", None,
      "The cell: an NB201 arch string, e.g. '|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+"
      "|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|', or (--space=darts) DARTS' text form "
      "\"Genotype(normal=[('sep_conv_3x3', 0), ...], ...)\" or the JSON form result.json stores.")


@functools.cache
def network():
  """--channels, --cells_per_stage, --num_cells, --image_size: the network a genotype builds."""
  return (
      flags.DEFINE_integer("channels", 16, "C, the first stage's width.", lower_bound=1),
      flags.DEFINE_integer("cells_per_stage", 5, "NB201: N, cells per stage.", lower_bound=1),
      flags.DEFINE_integer("num_cells", 20, "DARTS: number of cells (CIFAR: 20, ImageNet: 14).",
                           lower_bound=1),
      flags.DEFINE_integer(
          "image_size", None,
          "Side of the network's input images (default: the dataset's); --dataset=imagenet-1k "
          "only (DARTS' ImageNet recipe: 224).", lower_bound=1),
  )


def flagfile_text(holders):
  """The given flags' current values as a flag file (`--name=value` per line) that reruns them."""
  lines = []
  for holder in holders:
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
