r"""Evaluates TE-NAS: fixed cells against NAS-Bench-201, searches over seeds, or indicator scores.

Indicators of fixed cells against their trained accuracies (Kendall tau, Spearman rho, plots):

  python -m tenas_tf.launch.evaluate --mode=correlation --archs=cells.csv \
    --nb201_table=nb201_accuracies.csv --data_npz=a.npz,b.npz --run_dir=runs/corr

The search repeated over seeds, summarised as the paper's table:

  python -m tenas_tf.launch.evaluate --mode=seeds --seeds=0,1,2,3,4 \
    --flagfile=launch/nb201_cifar10.flags --nb201_table=nb201_accuracies.csv --run_dir=runs/seeds

The indicators of fixed cells of either space, at a search's sizes (here DARTS genotypes on
CIFAR-10 images, measured as the DARTS CIFAR-10 search measures them):

  python -m tenas_tf.launch.evaluate --mode=score --flagfile=launch/darts_cifar10.flags \
    --archs=darts_cells.csv --data_npz=a.npz,b.npz --run_dir=runs/darts_scores

Writes `evaluate.flags` (the flags that rerun it) and the mode's files into --run_dir:
correlation.csv / correlation.json / scatter_*.png, seed_<s>/ / seeds.json / seeds.md, or
scores.csv / scores.json.
"""

import os
import sys

from absl import app
import tensorflow as tf

from tenas_tf import experiments
from tenas_tf import search
from tenas_tf.experiments import evaluation
from tenas_tf.experiments import nb201_table
from tenas_tf.experiments import score_table
from tenas_tf.experiments import seed_study
from tenas_tf.launch import _cli
from tenas_tf.launch import _data
from tenas_tf.launch import flags as tenas_flags
from tenas_tf.experiments import run_files
from tenas_tf import spaces


def _load_images():
  images = _data.load_images()
  if tenas_flags.DETERMINISTIC_OPS.value:
    tf.config.experimental.enable_op_determinism()
  return images


def _table(required_by):
  path = tenas_flags.NB201_TABLE.value
  if path is None:
    if required_by:
      raise ValueError(f"--nb201_table is required with {required_by}")
    return None
  return nb201_table.load_accuracies(path)


def _write_flags(run_dir):
  run_files.check_writable(run_dir)
  run_files.write_atomic(os.path.join(run_dir, "evaluate.flags"),
                         tenas_flags.flagfile_text(tenas_flags.EVALUATE_FLAGS))


def _progress(prefix):
  def report(done, total):
    sys.stderr.write(f"\r{prefix} {done}/{total}")
    if done == total:
      sys.stderr.write("\n")
    sys.stderr.flush()
  return report


def _indicator_config(config_class):
  """An `evaluation.IndicatorConfig` (or subclass) from the data, size and draw flags."""
  return config_class(
      space=tenas_flags.SPACE.value, dataset=tenas_flags.DATASET.value,
      data_source=_data.data_source(), draws=tenas_flags.DRAWS.value,
      batch_size=tenas_flags.BATCH_SIZE.value, lr_batch_size=tenas_flags.LR_BATCH_SIZE.value,
      lr_batches=tenas_flags.LR_BATCHES.value, seed=tenas_flags.SEED.value,
      init=tenas_flags.INIT.value)


def _correlation():
  archs, num_archs = tenas_flags.ARCHS.value, tenas_flags.NUM_ARCHS.value
  if (archs is None) == (num_archs is None):
    raise ValueError(f"--mode=correlation needs exactly one of --archs (a CSV file) and "
                     f"--num_archs (>= 2); got --archs={archs!r} and --num_archs={num_archs!r}")
  if num_archs is not None and num_archs < 2:
    raise ValueError(f"--num_archs must be >= 2 (a rank correlation needs 2 cells); "
                     f"got {num_archs}")
  accuracies = _table("--mode=correlation")
  arch_strs = (evaluation.load_arch_strings(archs, accuracies) if archs is not None
               else evaluation.sample_arch_strings(accuracies, num_archs, tenas_flags.SEED.value))
  config = _indicator_config(evaluation.CorrelationConfig)
  run_dir = tenas_flags.RUN_DIR.value
  _write_flags(run_dir)
  images = _load_images()
  summary = evaluation.evaluate_correlation(config, arch_strs, accuracies, images, run_dir,
                                            progress=_progress("cell x draw"))
  print(evaluation.format_table(summary))
  for record in summary["non_finite_kappa"]:
    print(f"non-finite kappa (written as inf, ranked last): {record['arch_str']} "
          f"draw {record['draw']}: {record['cause']}")
  print(f"wrote {evaluation.CSV_FILE}, {evaluation.JSON_FILE} and "
        f"{', '.join(summary['plots'].values())} to {run_dir}")


def _seeds():
  seeds = seed_study.check_seeds(tenas_flags.SEEDS.value or [])
  accuracies = _table(None)
  settings = search.PruneSettings(
      prune_number=tenas_flags.PRUNE_NUMBER.value, repeats=tenas_flags.REPEATS.value,
      lr_batches_per_count=tenas_flags.LR_BATCHES.value,
      common_batches=tenas_flags.COMMON_BATCHES.value, init=tenas_flags.INIT.value,
      seed=seeds[0])
  config = experiments.SearchConfig(
      space=tenas_flags.SPACE.value, dataset=tenas_flags.DATASET.value,
      data_source=_data.data_source(), batch_size=tenas_flags.BATCH_SIZE.value,
      lr_batch_size=tenas_flags.LR_BATCH_SIZE.value, settings=settings)
  run_dir = tenas_flags.RUN_DIR.value
  _write_flags(run_dir)
  images = _load_images()

  def progress(seed, round_index, done, total):
    _progress(f"seed {seed} round {round_index}: candidate")(done, total)

  study = seed_study.run_seeds(config, images, seeds, run_dir, accuracies=accuracies,
                               progress=progress)
  print(seed_study.markdown_table(study))
  print(f"wrote {seed_study.JSON_FILE} and {seed_study.MARKDOWN_FILE} to {run_dir}")


def _score():
  config = _indicator_config(evaluation.IndicatorConfig)
  if tenas_flags.ARCHS.value is None:
    raise ValueError(f"--mode=score needs --archs, a CSV file with a "
                     f"{score_table.GENOTYPE_COLUMNS[config.space]!r} column")
  genotypes, names = score_table.load_genotypes(tenas_flags.ARCHS.value,
                                                spaces.get_space(config.space))
  run_dir = tenas_flags.RUN_DIR.value
  _write_flags(run_dir)
  images = _load_images()
  rows = score_table.score_cells(config, genotypes, images, run_dir, names=names,
                                 progress=_progress("cell x draw"))
  for row in rows:
    print(f"{row.get('name') or ''} kappa median {row['ntk_cond_median']:.4g}, "
          f"#LR median {row['lr_median']}, rank sum {row['rank_sum']}".lstrip())
  print(f"wrote {score_table.CSV_FILE} to {run_dir}")


_MODES = {"correlation": _correlation, "seeds": _seeds, "score": _score}


def _evaluate():
  mode = tenas_flags.MODE.value
  if mode not in _MODES:
    raise ValueError(f"--mode must be one of {tenas_flags.EVALUATE_MODES}; got {mode!r}")
  _MODES[mode]()


def main(argv):
  _cli.run_command(_evaluate, argv)


def run_main():
  """Console-script entry point (e.g. `tenas-evaluate`)."""
  app.run(main)


if __name__ == "__main__":
  run_main()
