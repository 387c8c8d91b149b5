"""A per-model cache of traced functions, so repeated indicator calls never retrace.

The search calls an indicator hundreds of times on the same model (only the model's variables,
e.g. its alive mask, change between calls); tracing once per model and input shape is what makes
that cheap. Entries die with their model.
"""

import weakref

_CACHE = weakref.WeakKeyDictionary()


def cached(model, key, make_function):
  """Returns `make_function()` built once per (model, key)."""
  per_model = _CACHE.setdefault(model, {})
  if key not in per_model:
    per_model[key] = make_function()
  return per_model[key]


def flatten_layers(model):
  """Every layer inside `model`, itself included, in call-tree order."""
  return list(model._flatten_layers(include_self=True, recursive=True))  # pylint: disable=protected-access
