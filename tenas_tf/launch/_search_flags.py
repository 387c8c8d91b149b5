"""The flags of a search's settings, shared by the search binary and evaluate's seeds mode.

Indicator sizes, `--init` and the Ray workers are also the evaluate binary's for fixed cells;
both binaries take the data flags of `_data`.
"""

from tenas_tf import experiments
from tenas_tf import search
from tenas_tf.launch import _data
from tenas_tf.launch import flags as tenas_flags

SPACE = tenas_flags.space()
NTK_BATCH_SIZE, LR_BATCH_SIZE, LR_BATCHES = tenas_flags.indicator_sizes()
REPEATS, PRUNE_NUMBER, COMMON_BATCHES = tenas_flags.pruning()
INIT = tenas_flags.init()
NB201_TABLE = tenas_flags.nb201_table()
DETERMINISTIC_OPS = tenas_flags.deterministic_ops()
RUN_DIR = tenas_flags.run_dir()
WORKERS, RAY_ADDRESS = tenas_flags.ray_workers()
FLAGS = ((SPACE,) + _data.FLAGS + (RUN_DIR, NB201_TABLE, NTK_BATCH_SIZE, LR_BATCH_SIZE,
                                   LR_BATCHES, REPEATS, PRUNE_NUMBER, INIT, COMMON_BATCHES,
                                   DETERMINISTIC_OPS, WORKERS, RAY_ADDRESS))


def search_config(seed):
  """The `experiments.SearchConfig` the flags name, searching with `seed`."""
  settings = search.PruneSettings(
      prune_number=PRUNE_NUMBER.value, repeats=REPEATS.value,
      lr_batches_per_count=LR_BATCHES.value, common_batches=COMMON_BATCHES.value,
      init=INIT.value, seed=seed)
  return experiments.SearchConfig(
      space=SPACE.value, dataset=_data.DATASET.value, data_source=_data.source().identity,
      batch_size=NTK_BATCH_SIZE.value, lr_batch_size=LR_BATCH_SIZE.value, settings=settings)


def inputs(flag_holders):
  """The `experiments.Inputs` of the data and worker flags; `flag_holders` make its flag file."""
  return experiments.Inputs(_data.source(), RUN_DIR.value, DETERMINISTIC_OPS.value,
                            tenas_flags.flagfile_text(flag_holders), workers=WORKERS.value,
                            ray_address=RAY_ADDRESS.value)
