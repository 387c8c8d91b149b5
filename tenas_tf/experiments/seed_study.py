"""The NB201 search repeated over seeds, summarised in the form of the paper's table.

Each seed's search goes to `run_dir/seed_<s>/` (a rerun resumes unfinished seeds and reuses
finished ones, as `search_run.run` does); `seeds.json` and `seeds.md` hold, per seed, the
genotype, the search seconds and the NB201 test accuracies, then the mean +- standard deviation
per dataset and the mean search seconds. Reference: TE-NAS Table 2 (NAS-Bench-201).
"""

import dataclasses
import json
import os

import numpy as np
import tensorflow as tf

from tenas_tf.experiments import evaluation
from tenas_tf.experiments import nb201_table
from tenas_tf.experiments import run_files
from tenas_tf.experiments import search_run

JSON_FILE = "seeds.json"
MARKDOWN_FILE = "seeds.md"
DATASET_LABELS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16": "ImageNet16-120"}


def check_seeds(seeds):
  """`seeds` as a list of distinct ints; raises ValueError naming the bad entry."""
  if not seeds:
    raise ValueError(f"seeds must list at least one int seed; got {seeds!r}")
  parsed = []
  for seed in seeds:
    try:
      parsed.append(int(str(seed).strip()))
    except ValueError:
      raise ValueError(f"seeds must be ints; got {seed!r} in {list(seeds)}") from None
  if len(set(parsed)) != len(parsed):
    raise ValueError(f"seeds must be distinct; got {parsed}")
  return parsed


def _mean_std(values):
  """{"mean", "std", "count"} over the non-None values (numpy's population std, ddof=0)."""
  values = [v for v in values if v is not None]
  if not values:
    return {"mean": None, "std": None, "count": 0}
  return {"mean": float(np.mean(values)), "std": float(np.std(values)), "count": len(values)}


def summarize(per_seed):
  """Mean and standard deviation over seeds of each accuracy and of the search seconds.

  Args:
    per_seed: list of {"seed", "genotype", "seconds", "accuracies": {dataset: %} or None}.

  Returns:
    {"accuracies": {dataset: {"mean", "std", "count"}}, "seconds": {"mean", "std", "count"}};
    the standard deviation is numpy's default (ddof=0); a seed whose cell has no accuracies is
    left out of the accuracy statistics (`count` says how many were used).
  """
  return {
      "accuracies": {dataset: _mean_std([(s["accuracies"] or {}).get(dataset) for s in per_seed])
                     for dataset in nb201_table.ACCURACY_COLUMNS},
      "seconds": _mean_std([s["seconds"] for s in per_seed]),
  }


def _devices():
  gpus = tf.config.list_physical_devices("GPU")
  return [gpu.name for gpu in gpus] or ["CPU"]


def _markdown_cell(genotype):
  # An NB201 arch string, or a DARTS genotype's JSON dict (written as compact JSON). A '|' inside
  # a table cell must be escaped, also inside a code span (GitHub markdown).
  text = genotype if isinstance(genotype, str) else json.dumps(genotype, separators=(",", ":"))
  return "`" + text.replace("|", "\\|") + "`"


def markdown_table(study):
  """`seeds.md`: one row per seed, then mean +- std, like TE-NAS's NAS-Bench-201 table."""
  config = study["config"]
  settings = config["settings"]
  lines = [
      f"# TE-NAS on NAS-Bench-201: {len(study['seeds'])} seeds",
      "",
      f"Search on {config['dataset']} ({config['data_source']}): NTK batch "
      f"{config['batch_size']}, linear regions {settings['lr_batches_per_count']} x "
      f"{config['lr_batch_size']}, repeats {settings['repeats']}, prune_number "
      f"{settings['prune_number']}, init {settings['init']}, common_batches "
      f"{settings['common_batches']}. Devices: {', '.join(study['devices'])}.",
      "Test accuracies (%) from the NB201 table; mean +- std over seeds (numpy std, ddof=0).",
      "",
      "| seed | genotype | " + " | ".join(DATASET_LABELS.values()) + " | search (s) |",
      "|---:|---|" + "---:|" * (len(DATASET_LABELS) + 1),
  ]
  for entry in study["seeds"]:
    accuracies = entry["accuracies"] or {}
    cells = [f"{accuracies[d]:.2f}" if d in accuracies else "n/a" for d in DATASET_LABELS]
    lines.append(f"| {entry['seed']} | {_markdown_cell(entry['genotype'])} | "
                 + " | ".join(cells) + f" | {entry['seconds']:.1f} |")
  summary = study["summary"]
  cells = []
  for dataset in DATASET_LABELS:
    stats = summary["accuracies"][dataset]
    cells.append("n/a" if stats["mean"] is None else f"{stats['mean']:.2f} ± {stats['std']:.2f}")
  lines.append("| **mean ± std** | | " + " | ".join(cells)
               + f" | {summary['seconds']['mean']:.1f} |")
  return "\n".join(lines) + "\n"


def run_seeds(config, images, seeds, run_dir, accuracies=None, progress=None, flag_file=None,
              scorer_of=None):
  """Runs the search of `config` once per seed and writes `seeds.json` and `seeds.md`.

  Args:
    config: `search_run.SearchConfig`; its `settings.seed` is replaced by each seed.
    images: finite tf.data.Dataset of uint8 images (the same for every seed).
    seeds: list of distinct ints.
    run_dir: output folder; seed s searches in `run_dir/seed_<s>`.
    accuracies: optional NB201 table ({arch_str: {dataset: accuracy}}) for the found cells.
    progress: optional callable(seed, round_index, done, total).
    flag_file: optional text of the flags that rerun it, written to `run_dir/evaluate.flags`
      once every seed's folder is accepted.
    scorer_of: optional callable(seed's config) -> the scorer of that seed's search
      (`search_run.run`'s `scorer`), e.g. `RayWorkers.search_scorer`; None scores in this process.

  Returns:
    The dict written to `seeds.json`: `seeds` (per seed: `seed`, `genotype`, `seconds`,
    `accuracies` or None, `run_dir`), `summary` (see `summarize`), `config` (with the seed of
    the settings left out), `devices`, `versions`.

  Raises:
    ValueError: bad seeds, or a seed folder holding another configuration's search.
  """
  seeds = check_seeds(seeds)
  run_files.start_run(run_dir, run_files.SEEDS)
  seed_configs = {seed: dataclasses.replace(
      config, settings=dataclasses.replace(config.settings, seed=seed)) for seed in seeds}
  for seed in seeds:  # refused before any seed's search runs or any file is rewritten
    search_run.check_resumable(seed_configs[seed], os.path.join(run_dir, f"seed_{seed}"))
  evaluation.write_flag_file(run_dir, flag_file)
  per_seed = []
  for seed in seeds:
    folder = f"seed_{seed}"
    result = search_run.run(
        seed_configs[seed], images, os.path.join(run_dir, folder), accuracies=accuracies,
        progress=(lambda r, done, total, s=seed: progress(s, r, done, total)) if progress
        else None,
        scorer=scorer_of(seed_configs[seed]) if scorer_of else None)
    per_seed.append({"seed": seed, "genotype": result["genotype"], "seconds": result["seconds"],
                     "accuracies": result.get("accuracies"), "run_dir": folder})
  config_json = config.to_json()
  config_json["settings"].pop("seed")
  study = {"seeds": per_seed, "summary": summarize(per_seed), "config": config_json,
           "devices": _devices(), "versions": search_run.versions()}
  run_files.write_atomic(os.path.join(run_dir, JSON_FILE),
                         json.dumps(study, indent=2, allow_nan=False) + "\n")
  run_files.write_atomic(os.path.join(run_dir, MARKDOWN_FILE), markdown_table(study))
  return study
