"""Helpers shared by the tests: tolerances per dtype, the shared data folder, weight copying."""

import pathlib

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
