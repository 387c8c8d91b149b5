"""Condition number of the empirical neural tangent kernel (TE-NAS trainability indicator).

For a batch of n images, g_i is the sum of sample i's logits and J_i its gradient with respect to
the NTK parameters; the kernel is Theta = J J^T (n x n) and kappa = lambda_max / lambda_min.
BatchNorm runs in training mode on the whole batch, so every g_i depends on every image: J must
come from ONE forward pass of the batch, never from per-sample forwards.
Reference: TE-NAS (Chen et al., ICLR 2021) section 3.1; README "Faithful to the reference".
"""

import dataclasses
import math

import numpy as np
import tensorflow as tf
import keras

from tenas_tf.indicators import _compiled

METHODS = ("jacobian", "pfor", "loop")


def ntk_variables(model):
  """The NTK parameter set of `model`, chosen by role.

  Conv kernels (Conv2D, DepthwiseConv2D), BatchNormalization gammas and Dense kernels, the
  parameters the reference differentiates. Not biases, BN betas, or non-trainable variables (an
  alive mask, moving statistics).
  """
  variables = []
  for layer in _compiled.flatten_layers(model):
    # Keras 3 calls the depthwise weight `kernel` too.
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)):
      variables.append(layer.kernel)
    elif isinstance(layer, keras.layers.BatchNormalization) and layer.scale:
      variables.append(layer.gamma)
  return variables


def _zeros_for_unconnected(gradients, variables, leading_shape):
  """`gradients` with each None (a variable the target does not reach, e.g. one of an op skipped
  under `tf.cond`) replaced by zeros of shape `leading_shape + variable.shape`.

  Done here rather than by `UnconnectedGradients.ZERO`, which fails on Keras 3 variables in eager
  mode (their dtype is a string).
  """
  return [g if g is not None else
          tf.zeros(tf.concat([leading_shape, tf.constant(v.shape, tf.int32)], 0), tf.float32)
          for g, v in zip(gradients, variables)]


def _gram_from_rows(per_variable_rows, n):
  """J J^T from each variable's [n, ...] rows of J."""
  rows = tf.concat([tf.reshape(r, [n, -1]) for r in per_variable_rows], axis=1)
  rows = tf.cast(rows, tf.float64)  # only the Gram matrix needs float64
  return tf.matmul(rows, rows, transpose_b=True)


def _make_gram_function(model, variables, method):
  def logit_sums(images):
    return tf.reduce_sum(model(images, training=True), axis=1)

  @tf.function(reduce_retracing=True)
  def gram_jacobian(images):
    with tf.GradientTape() as tape:
      sums = logit_sums(images)
    # pfor over the n cotangents e_i: n backward passes vectorised into one. Its cost is that of
    # the layers' gradients under pfor (tenas_tf.spaces.pfor_gradients and .depthwise hold
    # gradients written for it).
    jacobian = tape.jacobian(sums, variables)
    n = tf.shape(images)[:1]
    return _gram_from_rows(_zeros_for_unconnected(jacobian, variables, n), n[0])

  def gram_loop(images):
    # The test oracle: one backward pass per sample through the shared forward.
    with tf.GradientTape(persistent=True) as tape:
      sums = logit_sums(images)
      per_sample = [sums[i] for i in range(int(images.shape[0]))]
    grads = [_zeros_for_unconnected(tape.gradient(s, variables), variables,
                                    tf.zeros([0], tf.int32)) for s in per_sample]
    stacked = [tf.stack([g[v] for g in grads]) for v in range(len(variables))]
    return _gram_from_rows(stacked, len(per_sample))

  return gram_jacobian if method == "pfor" else gram_loop


def ntk_gram(model, images, *, variables=None, method="jacobian"):
  """The empirical NTK Theta = J J^T of `model` on `images`, in float64.

  Args:
    model: a Keras model mapping images to logits [n, classes].
    images: [n, H, W, C] float tensor, n >= 2.
    variables: the parameters of J; default `ntk_variables(model)`.
    method: "jacobian" (default): the model's own `logit_sum_jacobian(images, variables)` where
      it has one (the search networks of `tenas_tf.spaces`: one forward and a backward over
      many cotangents, `tenas_tf.spaces.batched_backward`, no pfor), else "pfor"; "pfor":
      `tape.jacobian` vectorised by pfor in a traced function (any model; tens of seconds of
      tracing before the first call);
      "loop": one backward pass per sample (slow; the test oracle).

  Returns:
    [n, n] float64 numpy array.
  """
  if method not in METHODS:
    raise ValueError(f"method must be one of {METHODS}; got {method!r}")
  images = tf.convert_to_tensor(images, dtype=tf.float32)
  if images.shape.rank is None or images.shape.rank < 2 or images.shape[0] < 2:
    raise ValueError(f"images must be a batch of at least 2 samples; got shape {images.shape}")
  if variables is None:
    variables = _compiled.cached(model, ("variables",), lambda: ntk_variables(model))
    which = "ntk_variables"
  else:
    variables = list(variables)
    which = tuple(id(v) for v in variables)
  if method == "jacobian":
    if hasattr(model, "logit_sum_jacobian"):
      # The model's own batched backward: no pfor.
      return _gram_from_rows(model.logit_sum_jacobian(images, variables),
                             int(images.shape[0])).numpy()
    method = "pfor"
  function = _compiled.cached(model, (method, which),
                              lambda: _make_gram_function(model, variables, method))
  return function(images).numpy()


@dataclasses.dataclass(frozen=True)
class NTKSpectrum:
  """Extreme eigenvalues of the NTK and their ratio.

  `condition_number` is lambda_max / lambda_min when lambda_min > 0 and both are finite; it is
  `inf` for a singular or indefinite kernel (lambda_min <= 0: e.g. a network whose output does not
  depend on its input) and `nan` when the kernel holds non-finite values. `well_defined` says which.
  """

  lambda_min: float
  lambda_max: float
  condition_number: float

  @property
  def well_defined(self):
    return math.isfinite(self.condition_number)


def spectrum_of(gram):
  """The `NTKSpectrum` of a symmetric float64 Gram matrix."""
  gram = np.asarray(gram, dtype=np.float64)
  if not np.all(np.isfinite(gram)):
    return NTKSpectrum(math.nan, math.nan, math.nan)
  eigenvalues = np.linalg.eigvalsh(gram)
  lambda_min, lambda_max = float(eigenvalues[0]), float(eigenvalues[-1])
  kappa = lambda_max / lambda_min if lambda_min > 0 else math.inf
  return NTKSpectrum(lambda_min, lambda_max, kappa)


def ntk_spectrum(model, images, *, variables=None, method="jacobian"):
  """`NTKSpectrum` of `model`'s NTK on `images`; arguments as for `ntk_gram`."""
  return spectrum_of(ntk_gram(model, images, variables=variables, method=method))


def ntk_condition_number(model, images, *, variables=None, method="jacobian"):
  """kappa_NTK = lambda_max / lambda_min of the empirical NTK (smaller: more trainable).

  BatchNorm runs in training mode (batch statistics, one forward pass of the whole batch);
  g_i = sum of sample i's logits; J w.r.t. `ntk_variables(model)` (kernels, BN gammas, dense
  kernel); eigenvalues in float64.

  Args:
    model: a Keras model mapping images to logits.
    images: [n, H, W, C] float batch (n = 72 for NB201 in the paper).
    variables: optional explicit parameter list.
    method: "jacobian" (default) or "loop".

  Returns:
    float; `inf` if lambda_min <= 0, `nan` if the kernel is not finite (see `NTKSpectrum`).

  Example:
    >>> kappa = ntk_condition_number(net, images)

  Reference: TE-NAS section 3.1, eq. 4.
  """
  return ntk_spectrum(model, images, variables=variables, method=method).condition_number
