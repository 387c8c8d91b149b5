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

With --workers=N (or --ray_address) the cells, or each seed's candidates, are scored by N Ray
workers, with the same result as in this process.

Writes `evaluate.flags` (the flags that rerun it) and the mode's files into --run_dir:
correlation.csv / correlation.json / scatter_*.png, seed_<s>/ / seeds.json / seeds.md, or
scores.csv / scores.json.
"""


from absl import flags

from tenas_tf import experiments
from tenas_tf.launch import _cli
from tenas_tf.launch import _data
from tenas_tf.launch import _search_flags

MODES = ("correlation", "seeds", "score")
MODE = flags.DEFINE_enum(
    "mode", None, list(MODES),
    "Evaluation: correlation (indicators of fixed NB201 cells against their NB201 accuracies), "
    "seeds (the search once per --seeds, summarised as the paper's table) or score (the "
    "indicators of fixed cells of --space, into scores.csv).")
ARCHS = flags.DEFINE_string(
    "archs", None,
    "correlation / score: CSV file of the cells to score: an arch_str column (nb201) or a "
    "genotype_json column (darts); other columns are ignored (correlation: or use --num_archs).")
NUM_ARCHS = flags.DEFINE_integer(
    "num_archs", None,
    "correlation: score this many cells drawn at random (--seed) from --nb201_table.",
    lower_bound=2)
DRAWS = flags.DEFINE_integer(
    "draws", 3, "correlation / score: independent draws of weights and inputs per cell.",
    lower_bound=1)
SEEDS = flags.DEFINE_list("seeds", None, "seeds: comma-separated search seeds, e.g. 0,1,2,3,4.")
FLAGS = _search_flags.FLAGS + (MODE, ARCHS, NUM_ARCHS, DRAWS, SEEDS)


def _progress(what):
  """A bar with an ETA on a terminal, plain lines in a log: (done, total) of `what`."""
  shown = experiments.SearchProgress(label=lambda key: what)
  shown.begin()
  return lambda done, total: shown(0, done, total)


def _indicator_config(config_class):
  """An `experiments.IndicatorConfig` (or subclass) from the data, size and draw flags."""
  return config_class(
      space=_search_flags.SPACE.value, dataset=_data.DATASET.value,
      data_source=_data.source().identity, draws=DRAWS.value,
      batch_size=_search_flags.NTK_BATCH_SIZE.value,
      lr_batch_size=_search_flags.LR_BATCH_SIZE.value, lr_batches=_search_flags.LR_BATCHES.value,
      seed=_data.SEED.value, init=_search_flags.INIT.value)


def _correlation():
  archs, num_archs = ARCHS.value, NUM_ARCHS.value
  if (archs is None) == (num_archs is None):
    raise ValueError(f"--mode=correlation needs exactly one of --archs (a CSV file) and "
                     f"--num_archs (>= 2); got --archs={archs!r} and --num_archs={num_archs!r}")
  if _search_flags.NB201_TABLE.value is None:
    raise ValueError("--nb201_table is required with --mode=correlation")
  job = experiments.CorrelationJob(
      config=_indicator_config(experiments.CorrelationConfig),
      inputs=_search_flags.inputs(FLAGS), nb201_table=_search_flags.NB201_TABLE.value,
      archs=archs, num_archs=num_archs)
  summary = experiments.run_correlation_job(job, progress=_progress("cell x draw"))
  print(experiments.format_correlation_table(summary))
  for record in summary["non_finite_kappa"]:
    print(f"non-finite kappa (written as inf, ranked last): {record['arch_str']} "
          f"draw {record['draw']}: {record['cause']}")
  print(f"wrote the correlation table, summary and plots "
        f"({', '.join(summary['plots'].values())}) to {job.inputs.run_dir}")


def _seeds():
  seeds = experiments.check_seeds(SEEDS.value or [])
  job = experiments.SeedsJob(
      config=_search_flags.search_config(seeds[0]), inputs=_search_flags.inputs(FLAGS),
      seeds=tuple(seeds), nb201_table=_search_flags.NB201_TABLE.value)

  shown = experiments.SearchProgress(label=lambda key: f"seed {key[0]} round {key[1]}")
  shown.begin()

  def progress(seed, round_index, done, total):
    shown((seed, round_index), done, total)

  study = experiments.run_seeds_job(job, progress=progress)
  print(experiments.seeds_markdown_table(study))
  print(f"wrote the seeds' summary (json, markdown) to {job.inputs.run_dir}")


def _score():
  config = _indicator_config(experiments.IndicatorConfig)
  if ARCHS.value is None:
    raise ValueError(f"--mode=score needs --archs, a CSV file with a "
                     f"{experiments.GENOTYPE_COLUMNS[config.space]!r} column")
  job = experiments.ScoresJob(config=config, inputs=_search_flags.inputs(FLAGS),
                              archs=ARCHS.value)
  rows = experiments.run_scores_job(job, progress=_progress("cell x draw"))
  for row in rows:
    print(f"{row.get('name') or ''} kappa median {row['ntk_cond_median']:.4g}, "
          f"#LR median {row['lr_median']}, rank sum {row['rank_sum']}".lstrip())
  print(f"wrote the scores to {job.inputs.run_dir}")


_MODES = {"correlation": _correlation, "seeds": _seeds, "score": _score}


def _evaluate():
  mode = MODE.value
  if mode not in _MODES:
    raise ValueError(f"--mode must be one of {MODES}; got {mode!r}")
  _MODES[mode]()


def main(argv):
  _cli.run_command(_evaluate, argv)


def run_main():
  """Console-script entry point (`tenas-evaluate`)."""
  _cli.run(main, FLAGS)


if __name__ == "__main__":
  run_main()
