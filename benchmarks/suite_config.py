"""What the benchmark suite measures in each space: the paper's settings, and the smoke settings.

The paper's settings (TE-NAS, Chen et al., ICLR 2021, section 4 and the authors' code): NTK batch
72 (NB201) or 14 (DARTS, CIFAR-10), 3 repeats, 3 x 1000 linear-region samples, prune_number 1
(NB201) or 3 (DARTS). The smoke settings shrink every size and keep two cheap ops per edge, so
that the whole suite checks itself end to end in a few minutes on a small CPU (parameter-free
ops in the cells trace fastest); their figures mean nothing.
"""

import dataclasses
import pathlib

import numpy as np

from tenas_tf import spaces

# The real CIFAR-10 training images beside the repository (../shared/data/cifar, see its README).
CIFAR10_NPZ = tuple(
    str(pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar" /
        f"cifar10_train_{part}.npz") for part in ("0000-0999", "1000-1999"))
DATASET = "cifar10"
SEARCH_MODES = ("reference", "common")


@dataclasses.dataclass(frozen=True)
class SpaceBenchmark:
  """The sizes one space is benchmarked at.

  Attributes:
    space: the space's name (`tenas_tf.spaces.SPACES`).
    batch_size: images per NTK batch.
    lr_batch_size: samples per linear-region batch.
    lr_batches: batches per linear-region count.
    repeats: the search's draws per score.
    prune_number: ops the search removes per edge per round.
    single_path_op: the op every edge keeps in the single-path NTK timing.
    kept_ops: the ops alive (and built) at the start; None for the whole space.
  """

  space: str
  batch_size: int
  lr_batch_size: int
  lr_batches: int
  repeats: int
  prune_number: int
  single_path_op: str
  kept_ops: tuple | None = None

  def to_json(self):
    return dataclasses.asdict(self)


PAPER = {
    "nb201": SpaceBenchmark("nb201", batch_size=72, lr_batch_size=1000, lr_batches=3, repeats=3,
                            prune_number=1, single_path_op="nor_conv_3x3"),
    "darts": SpaceBenchmark("darts", batch_size=14, lr_batch_size=1000, lr_batches=3, repeats=3,
                            prune_number=3, single_path_op="sep_conv_3x3"),
}
SMOKE = {
    "nb201": SpaceBenchmark("nb201", batch_size=4, lr_batch_size=100, lr_batches=3, repeats=1,
                            prune_number=1, single_path_op="avg_pool_3x3",
                            kept_ops=("skip_connect", "avg_pool_3x3")),
    "darts": SpaceBenchmark("darts", batch_size=4, lr_batch_size=100, lr_batches=3, repeats=1,
                            prune_number=1, single_path_op="avg_pool_3x3",
                            kept_ops=("skip_connect", "avg_pool_3x3")),
}


def benchmark_of(space, smoke):
  """The `SpaceBenchmark` of `space` ("nb201" or "darts"): the smoke one when `smoke`."""
  return (SMOKE if smoke else PAPER)[space]


def search_space(benchmark):
  """The `SearchSpace` measured: the registered one, or with `kept_ops` only those ops built.

  A reduced space builds only its alive ops in its indicator networks (`built_ops`), so its
  graphs trace in seconds.
  """
  space = spaces.get_space(benchmark.space)
  if benchmark.kept_ops is None:
    return space
  mask = space.initial_mask()
  for column, op in enumerate(space.ops):
    mask[..., column] &= op in benchmark.kept_ops
  return space.reduced_to(mask)


def single_path_mask(space, op):
  """`space.initial_mask()` with `op` alone alive on every edge (a single-path architecture)."""
  mask = space.initial_mask()
  column = space.ops.index(op)
  single = np.zeros_like(mask)
  single[..., column] = mask[..., column]
  return single
