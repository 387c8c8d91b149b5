"""Weight initialisation schemes for the indicator networks.

The published TE-NAS numbers were produced with PyTorch's *default* initialisation (the authors'
`init_model` never matched the names the launcher passed; README, "Faithful to the reference"),
so that is our default: kernels U(-b, b) with b = 1/sqrt(fan_in), dense bias U(-b, b), BN gamma
1, beta 0.
The paper describes Kaiming-normal init; `kaiming_normal` offers it (fan_in mode).

`initialize` redraws every variable of a model from a seed, so a search can re-initialise the same
Keras model (one traced graph) instead of building a new one, and two runs with one seed agree.
"""

import numpy as np
import keras

from tenas_tf import checks

INIT_SCHEMES = ("pytorch_default", "kaiming_normal")


def check_init_scheme(scheme):
  """`scheme` if it is one of `INIT_SCHEMES`; raises ValueError naming the argument `init`."""
  return checks.one_of("init", scheme, INIT_SCHEMES)


def kernel_initializer(scheme):
  """The Keras initializer a freshly built kernel uses under `scheme` (dense/conv, fan-in)."""
  check_init_scheme(scheme)
  if scheme == "pytorch_default":
    return keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform")
  return keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal")


def _fan_in(layer, kernel):
  shape = kernel.shape
  if isinstance(layer, keras.layers.DepthwiseConv2D):
    # PyTorch's depthwise weight is (C, 1, k, k): fan_in is k*k, not k*k*C as Keras computes.
    return int(shape[0] * shape[1])
  return int(np.prod(shape[:-1]))


def _draw_kernel(rng, scheme, kernel_shape, fan_in):
  if scheme == "pytorch_default":
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=kernel_shape)
  return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=kernel_shape)


def _layers(model):
  # `_flatten_layers` is how Keras itself walks nested layers (e.g. for `model.summary`).
  return model._flatten_layers(include_self=True, recursive=True)  # pylint: disable=protected-access


def initialize(model, seed, scheme="pytorch_default"):
  """Redraws every weight of `model` in place, deterministically from `seed`.

  Args:
    model: a built Keras model made of Conv2D, DepthwiseConv2D, Dense and BatchNormalization
      layers (other layers' weights are left alone).
    seed: int; the same seed gives bit-identical weights.
    scheme: one of `INIT_SCHEMES`.

  Example:
    >>> initialize(net, seed=0)   # PyTorch-default init, as the published runs used
  """
  check_init_scheme(scheme)
  rng = np.random.default_rng(seed)
  for layer in _layers(model):
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)):
      kernel = layer.kernel
    elif isinstance(layer, keras.layers.BatchNormalization):
      for var, value in ((layer.gamma, 1.0), (layer.beta, 0.0),
                         (layer.moving_mean, 0.0), (layer.moving_variance, 1.0)):
        if var is not None:
          var.assign(np.full(var.shape, value, dtype=var.dtype))
      continue
    else:
      continue
    fan_in = _fan_in(layer, kernel)
    kernel.assign(_draw_kernel(rng, scheme, kernel.shape, fan_in).astype(kernel.dtype))
    bias = getattr(layer, "bias", None)
    if bias is not None:
      bound = 1.0 / np.sqrt(fan_in)
      bias.assign(rng.uniform(-bound, bound, size=bias.shape).astype(bias.dtype))
