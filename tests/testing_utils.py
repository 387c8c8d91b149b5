"""Helpers shared by the tests: tolerances, shared data, weight copying, reduced search spaces."""

import dataclasses
import pathlib
import shutil
import sys
import unittest

import numpy as np

# One place for tolerances (STYLE.md rule 12). float32: results of float32 forward/backward passes
# compared across two computation orders; float64: the same float32 numbers accumulated in float64.
_TOLERANCES = {
    np.dtype(np.float32): {"rtol": 1e-4, "atol": 1e-6},
    np.dtype(np.float64): {"rtol": 1e-9, "atol": 1e-12},
}


def tolerance(dtype=np.float32):
  """{'rtol': ..., 'atol': ...} for comparing two computations carried out in `dtype`."""
  return dict(_TOLERANCES[np.dtype(dtype)])


def shared_dir():
  """The project's `shared` folder, beside the repository root (it may be absent)."""
  return pathlib.Path(__file__).resolve().parents[1].parent / "shared"


def imagenet_sample_folder(root, num_classes=3):
  """An image folder of the 20 real ILSVRC2012 JPEGs in `shared/data/imagenet_samples`.

  Sample i (in sorted file order) is copied to `root/n<i % num_classes>/`, so that the folder has
  class sub-folders like ILSVRC2012's `train/`.

  Returns:
    The number of images copied (20).

  Raises:
    unittest.SkipTest: where the samples are absent.
  """
  samples = sorted((shared_dir() / "data" / "imagenet_samples").glob("imagenet_*.jpg"))
  if not samples:
    raise unittest.SkipTest(f"ImageNet samples absent: {shared_dir() / 'data/imagenet_samples'}")
  for index, path in enumerate(samples):
    folder = pathlib.Path(root) / f"n{index % num_classes}"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, folder / path.name)
  return len(samples)


def only_ops(space, keep_ops):
  """`space.initial_mask()` with only the ops named in `keep_ops` alive."""
  mask = space.initial_mask()
  for column, op in enumerate(space.ops):
    mask[..., column] &= op in keep_ops
  return mask


def reduced_space(space, initial_mask):
  """`space` (a `registry.SearchSpace`) whose searches start from `initial_mask`.

  Only the ops alive there are built in its indicator networks, so a search runs the same flow
  (flags, op rounds, DARTS' topology rounds, run directory) with networks that trace in seconds
  when they are few and without weights: the full DARTS NTK supernet's vectorised Jacobian takes
  minutes on a CPU.
  """
  initial_mask = np.array(initial_mask, dtype=bool)
  built = space.built_ops_of(initial_mask)
  return dataclasses.replace(
      space, initial_mask=initial_mask.copy,
      ntk_network=lambda classes, shape, init, built_ops=None: space.ntk_network(
          classes, shape, init, built_ops=built),
      linear_region_network=lambda classes, init, built_ops=None: space.linear_region_network(
          classes, init, built_ops=built))


# The search binary's main on the space argv[1] reduced to the ops argv[2] ("op,op,...").
_REDUCED_SEARCH = """
import sys
from absl import app
from tenas_tf.launch import search
from tenas_tf.spaces import registry
from tests import testing_utils

space, ops = registry.SPACES[sys.argv.pop(1)], sys.argv.pop(1).split(",")
registry.SPACES[space.name] = testing_utils.reduced_space(space, testing_utils.only_ops(space, ops))
app.run(search.main, argv=["search"] + sys.argv[1:])
"""


def reduced_search_command(space_name, keep_ops, *flags):
  """The command line of the search binary on its space with only `keep_ops` (`reduced_space`).

  Run it with the repository on PYTHONPATH.

  Args:
    space_name: "nb201" or "darts".
    keep_ops: the op names alive at the start.
    *flags: the binary's flags, e.g. "--run_dir=...".

  Returns:
    A list for `subprocess.run`.
  """
  return [sys.executable, "-c", _REDUCED_SEARCH, space_name, ",".join(keep_ops), *flags]


def copy_matching_weights(source, target, skip=()):
  """Assigns every variable of `target` from the `source` variable with the same `path`.

  Args:
    source: a built Keras model.
    target: a built Keras model whose variables (except those whose path ends with one of
      `skip`) all exist in `source` with the same path and shape.
    skip: path suffixes not to copy (e.g. an alive mask).

  Returns:
    The number of variables copied.

  Raises:
    KeyError: a variable of `target` has no counterpart in `source`.
  """
  by_path = {v.path: v for v in source.variables}
  copied = 0
  for variable in target.variables:
    if any(variable.path.endswith(suffix) for suffix in skip):
      continue
    if variable.path not in by_path:
      raise KeyError(f"{variable.path} has no counterpart in {source.name}")
    variable.assign(by_path[variable.path].numpy())
    copied += 1
  return copied
