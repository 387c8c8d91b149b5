"""Argument checks shared by every package: one wording for every "must be" error.

Each check returns the value in its canonical Python type (numpy integers become `int`), so that
callers can validate and normalise in one line, and raises a ValueError that names the argument,
the rule and the value received (house style rule 11):

  >>> integer("batch_size", 1, minimum=2)
  Traceback (most recent call last):
  ValueError: batch_size must be an int >= 2; got 1

This module imports nothing from tenas_tf, so that every floor may use it.
"""

import numbers

import numpy as np


def _is_int(value):
  return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _bounds_text(minimum, maximum):
  if minimum is not None and maximum is not None:
    return f" in [{minimum}, {maximum}]"
  if minimum is not None:
    return f" >= {minimum}"
  if maximum is not None:
    return f" <= {maximum}"
  return ""


def integer(name, value, minimum=None, maximum=None, *, why=None):
  """`value` as an int; raises ValueError unless it is an int within [minimum, maximum].

  Args:
    name: the argument's name, as the caller knows it (a flag name in a binary).
    value: the value to check; bools are refused (True is not a batch size).
    minimum, maximum: inclusive bounds, or None for none.
    why: optional reason appended to the rule, e.g. "the NTK needs 2 samples".

  Returns:
    `int(value)`.
  """
  if (not _is_int(value) or (minimum is not None and value < minimum)
      or (maximum is not None and value > maximum)):
    reason = f" ({why})" if why else ""
    raise ValueError(f"{name} must be an int{_bounds_text(minimum, maximum)}{reason}; "
                     f"got {value!r}")
  return int(value)


def optional_integer(name, value, minimum=None, maximum=None, *, why=None):
  """None, or `value` checked by `integer`."""
  if value is None:
    return None
  try:
    return integer(name, value, minimum, maximum, why=why)
  except ValueError:
    reason = f" ({why})" if why else ""
    raise ValueError(f"{name} must be None or an int{_bounds_text(minimum, maximum)}{reason}; "
                     f"got {value!r}") from None


def real(name, value, minimum=None, maximum=None, *, below=None):
  """`value` as a float within [minimum, maximum] (and < `below` when given).

  Args:
    name: the argument's name.
    value: an int or float (bools refused); NaN is refused.
    minimum, maximum: inclusive bounds, or None.
    below: exclusive upper bound, or None (a probability of dropping: [0, 1)).

  Returns:
    `float(value)`.
  """
  ok = (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
        and value == value)  # NaN is not equal to itself
  if ok:
    ok = ((minimum is None or value >= minimum) and (maximum is None or value <= maximum)
          and (below is None or value < below))
  if not ok:
    if below is not None:
      rule = f" in [{minimum if minimum is not None else '-inf'}, {below})"
    else:
      rule = _bounds_text(minimum, maximum)
    raise ValueError(f"{name} must be a float{rule}; got {value!r}")
  return float(value)


def boolean(name, value):
  """`value` if it is a bool; raises ValueError naming `name` otherwise."""
  if not isinstance(value, (bool, np.bool_)):
    raise ValueError(f"{name} must be a bool; got {value!r}")
  return bool(value)


def one_of(name, value, allowed):
  """`value` if it is one of `allowed`; raises ValueError listing them otherwise."""
  allowed = tuple(allowed)
  if value not in allowed:
    raise ValueError(f"{name} must be one of {allowed}; got {value!r}")
  return value
