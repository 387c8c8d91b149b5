"""Per-sample Jacobians of the indicator networks: one eager forward, a backward over many cotangents.

The NTK indicator needs J, the gradient of each sample's logit sum with respect to the network's
NTK parameters, with BatchNorm on the batch's statistics (so every row of J depends on the whole
batch). `tape.jacobian` vectorises the n backward passes with pfor: fast once traced, but pfor's
rewriting of the graph costs tens of seconds to minutes and gigabytes before the first score.

Here each layer runs its forward once, eagerly, and returns a *backward*: a function from a chunk
of K cotangents of its output, [K, n, ...], to the K cotangents of its input, which also adds the
layer's parameter rows ([K, ...], one per cotangent) to a `Rows`. No network is traced and pfor
never runs: only a few small steps (the conv, depthwise and BN backward, BN's forward) are
`tf.function`s, to save eager dispatch, each traced in milliseconds once per shape
(`tracing_count`), so the first call costs about what later ones cost. The forward tensors a
backward needs (ReLU masks, BN's normalised values, conv inputs) are computed once, in the
forward, and shared by every chunk.

A layer joins by offering `jacobian_forward(inputs, rows)` -> (outputs, backward) (composites:
the ops, edges, cells and networks of the spaces); the Keras layers they are built from are
handled here (`forward`). The networks' `logit_sum_jacobian` runs the whole thing.
Reference: TE-NAS (Chen et al., ICLR 2021) section 3.1 (the NTK, a Gram matrix of per-sample
Jacobians); README "Faithful to the reference".
"""

import functools

import keras
import tensorflow as tf

from tenas_tf.spaces import pfor_gradients

_TRACED_STEPS = []  # every `tf.function` `traced_step` made, for `tracing_count`


def traced_step(function):
  """`function(*settings, *tensors)` as `step(*settings)(*tensors)`: one `tf.function` per
  tuple of settings (hashable Python values: strides, padding, epsilon), taking tensors only.

  A `tf.function` called with Python lists or strings among its arguments rebuilds their trace
  types at every call: measured here, 0.8 ms a call for an identity function with the conv's
  settings against 0.3 ms with three tensors, and a DARTS kappa makes hundreds of such calls.
  """
  steps = {}

  def step(*settings):
    if settings not in steps:
      steps[settings] = tf.function(functools.partial(function, *settings),
                                    reduce_retracing=True)
      _TRACED_STEPS.append(steps[settings])
    return steps[settings]
  return step


class Rows:
  """The Jacobian rows of the parameters, as the backward passes add them, chunk after chunk."""

  def __init__(self):
    self._chunks = {}  # id(variable) -> [K, ...] row blocks, in the order the chunks ran

  def add(self, variable, rows):
    self._chunks.setdefault(id(variable), []).append(rows)

  def stacked(self, variables, n):
    """Per variable of `variables`, its [n, size] rows; zeros for one no backward reached (an op
    skipped because it is dead)."""
    return [tf.reshape(tf.concat(self._chunks[id(v)], 0), [n, -1]) if id(v) in self._chunks
            else tf.zeros([n, int(tf.size(v))]) for v in variables]


def fold(cotangents):
  """[K, n, ...] -> [K * n, ...]: K cotangent batches as one batch for the conv and pool ops.
  (Static shapes where known: in eager mode that is one op instead of four.)"""
  if cotangents.shape[2:].is_fully_defined():
    return tf.reshape(cotangents, [-1, *cotangents.shape[2:]])
  return tf.reshape(cotangents, tf.concat([[-1], tf.shape(cotangents)[2:]], 0))


def unfold(folded, k):
  if folded.shape[1:].is_fully_defined():
    return tf.reshape(folded, [k, -1, *folded.shape[1:]])
  return tf.reshape(folded, tf.concat([[k, -1], tf.shape(folded)[1:]], 0))


def chain(*backwards):
  """The backward of layers run in sequence, given their backwards last layer first (None: a
  layer that is absent)."""
  backwards = [b for b in backwards if b is not None]

  def backward(cotangents):
    for step in backwards:
      cotangents = step(cotangents)
    return cotangents
  return backward


def sequence(layers, inputs, rows):
  """Runs `layers` (None entries skipped) one after another: (outputs, backward)."""
  backwards = []
  for layer in layers:
    if layer is not None:
      inputs, backward = forward(layer, inputs, rows)
      backwards.append(backward)
  return inputs, chain(*reversed(backwards))


def added(branches):
  """Sums branch outputs: given [(outputs, backward)], (sum, backward feeding each branch the
  cotangent and summing their input cotangents)."""
  outputs = [o for o, _ in branches]
  total = outputs[0] if len(outputs) == 1 else tf.add_n(outputs)

  def backward(cotangents):
    inputs = [b(cotangents) for _, b in branches]
    return inputs[0] if len(inputs) == 1 else tf.add_n(inputs)
  return total, backward


def zero_cotangents(cotangents, inputs):
  """Zero cotangents of `inputs`, as many as `cotangents` holds: [K, *inputs.shape]."""
  return tf.zeros(tf.concat([tf.shape(cotangents)[:1], tf.shape(inputs)], 0), inputs.dtype)


def summed(total, cotangents):
  """`total` + `cotangents`, where a None total (nothing has flowed in yet) counts as zero: how a
  state read by several layers gathers their cotangents."""
  return cotangents if total is None else total + cotangents


def zeros(outputs_like, inputs):
  """Zeros shaped like `outputs_like`, whose backward gives zero cotangents to `inputs`."""
  return tf.zeros_like(outputs_like), lambda cotangents: zero_cotangents(cotangents, inputs)


def relu(x):
  mask = tf.cast(x > 0, x.dtype)

  def backward(cotangents):
    return cotangents * mask
  return tf.nn.relu(x), backward


def side_by_side(cotangents):
  """[K, n, h, w, c] -> [n, h, w, K * c]: the K cotangents as the output channels of one batch.
  (Static shapes where known, as in `fold`.)"""
  transposed = tf.transpose(cotangents, [1, 2, 3, 0, 4])
  if cotangents.shape.is_fully_defined():
    k, n, height, width, channels = cotangents.shape
    return tf.reshape(transposed, [n, height, width, k * channels])
  shape = tf.shape(cotangents)
  return tf.reshape(transposed, tf.concat([shape[1:4], [shape[0] * shape[4]]], 0))


def kernel_rows(x, kernel_shape, cotangents, strides, padding, dilations, side=None):
  """[K, kh, kw, c_in, c_out]: the kernel gradient of a conv of `x` for each of K cotangents
  [K, n, h, w, c_out], from ONE `Conv2DBackpropFilter` with the K cotangents side by side as
  K * c_out output channels (`side`: their `side_by_side`, where the caller has it already).
  `kernel_shape`: a list, or a shape tensor inside a traced step."""
  k = cotangents.shape[0]
  if isinstance(kernel_shape, list) and k is not None:  # static: no shape arithmetic ops
    filter_sizes, rows_shape = kernel_shape[:3] + [k * kernel_shape[3]], kernel_shape[:3] + [k, -1]
  else:
    k = tf.shape(cotangents)[0]
    filter_sizes = tf.concat([kernel_shape[:3], [k * kernel_shape[-1]]], 0)
    rows_shape = tf.concat([kernel_shape[:3], [k, -1]], 0)
  rows = tf.raw_ops.Conv2DBackpropFilter(
      input=x, filter_sizes=filter_sizes,
      out_backprop=side_by_side(cotangents) if side is None else side, strides=strides,
      padding=padding, dilations=dilations)
  return tf.transpose(tf.reshape(rows, rows_shape), [3, 0, 1, 2, 4])


def conv2d(x, layer, rows, input_cotangents=True):
  """A `keras.layers.Conv2D` without bias (the only kind the spaces build): rows of its kernel.

  `input_cotangents=False` (a network's first layer) skips the input's cotangents: its backward
  returns None.
  """
  if layer.use_bias or layer.groups != 1:
    raise NotImplementedError(f"{layer.name}: conv with bias or groups")
  kernel = tf.convert_to_tensor(layer.kernel)
  strides = (1, *layer.strides, 1)
  dilations = (1, *layer.dilation_rate, 1)
  padding = layer.padding.upper()
  y = tf.nn.conv2d(x, kernel, strides, padding, dilations=dilations)
  step = _conv_backward(strides, padding, dilations, input_cotangents)

  def backward(cotangents):
    own_rows, inputs = step(cotangents, x, kernel)
    rows.add(layer.kernel, own_rows)
    return inputs
  return y, backward


@traced_step
def _conv_backward(strides, padding, dilations, input_cotangents, cotangents, x, kernel):
  k = tf.shape(cotangents)[0]
  own_rows = kernel_rows(x, tf.shape(kernel), cotangents, strides, padding, dilations)
  if not input_cotangents:
    return own_rows, None
  input_shape = tf.shape(x)
  folded = tf.raw_ops.Conv2DBackpropInput(
      input_sizes=tf.concat([[k * input_shape[0]], input_shape[1:]], 0), filter=kernel,
      out_backprop=fold(cotangents), strides=strides, padding=padding, dilations=dilations)
  return own_rows, unfold(folded, k)


def depthwise_conv2d(x, layer, rows, strides=1):
  """A `keras.layers.DepthwiseConv2D` (multiplier 1, no bias) on an already padded `x`: the
  stride-1 'valid' window (dilated by the layer's rate), then every `strides`-th output, as
  `tenas_tf.spaces.depthwise.depthwise_conv2d` computes it. Rows of its kernel.

  Computed as the dense conv with the block-diagonal kernel (C times the depthwise work: nothing
  for the indicator nets' 1-4 channels), whose ops take a batch of cotangents in one call each and
  run dilated on a CPU; the kernel's rows are the diagonal of the dense kernel's.
  """
  if layer.use_bias or layer.depth_multiplier != 1:
    raise NotImplementedError(f"{layer.name}: depthwise conv with bias or multiplier")
  kernel = tf.convert_to_tensor(layer.kernel)  # [kh, kw, C, 1]
  channels = kernel.shape[2]
  dense_kernel = kernel * tf.eye(channels)  # [kh, kw, C, C]
  dilations = (1, *layer.dilation_rate, 1)
  unit = [1, 1, 1, 1]
  full = tf.nn.conv2d(x, dense_kernel, unit, "VALID", dilations=dilations)
  y = full[:, ::strides, ::strides, :] if strides > 1 else full
  step = _depthwise_backward(strides, dilations)

  def backward(cotangents):
    own_rows, inputs = step(cotangents, x, dense_kernel, full)
    rows.add(layer.kernel, own_rows)
    return inputs
  return y, backward


@traced_step
def _depthwise_backward(strides, dilations, cotangents, x, dense_kernel, full):
  k = tf.shape(cotangents)[0]
  unit = [1, 1, 1, 1]
  if strides > 1:
    full_size = tf.concat([[k], tf.shape(full)], 0)
    cotangents = tf.raw_ops.StridedSliceGrad(
        shape=full_size, begin=[0, 0, 0, 0, 0], end=full_size,
        strides=[1, 1, strides, strides, 1], dy=cotangents)
  dense_rows = kernel_rows(x, tf.shape(dense_kernel), cotangents, unit, "VALID", dilations)
  input_shape = tf.shape(x)
  folded = tf.raw_ops.Conv2DBackpropInput(
      input_sizes=tf.concat([[k * input_shape[0]], input_shape[1:]], 0), filter=dense_kernel,
      out_backprop=fold(cotangents), strides=unit, padding="VALID", dilations=dilations)
  return tf.linalg.diag_part(dense_rows)[..., None], unfold(folded, k)


def max_pool(x, strides, padding):
  """TensorFlow's 3x3 max pool; each window's cotangent goes to its (first) largest input.

  The backward is `MaxPoolGrad` on the forward tensors repeated once per cotangent (the indicator
  nets' pools are small): an op with deterministic kernels on CPU and GPU, which a scatter of the
  argmax positions (`unsorted_segment_sum`) is not under TensorFlow's op determinism on a GPU.
  """
  y = tf.nn.max_pool2d(x, 3, strides, padding)

  def backward(cotangents):
    k = tf.shape(cotangents)[0]
    folded = tf.raw_ops.MaxPoolGrad(
        orig_input=tf.tile(x, [k, 1, 1, 1]), orig_output=tf.tile(y, [k, 1, 1, 1]),
        grad=fold(cotangents), ksize=[1, 3, 3, 1], strides=[1, strides, strides, 1],
        padding=padding)
    return unfold(folded, k)
  return y, backward


def shifted(x):
  """x[i + 1, j + 1], zero past the bottom and right borders (`FactorizedReduce`'s second conv)."""
  def backward(cotangents):
    return tf.pad(cotangents[:, :, :-1, :-1], [[0, 0], [0, 0], [1, 0], [1, 0], [0, 0]])
  return tf.pad(x[:, 1:, 1:, :], [[0, 0], [0, 1], [0, 1], [0, 0]]), backward


def concatenated(branches):
  """Concatenates branch outputs along channels: given [(outputs, backward)], (concatenation,
  backward feeding each branch its channels' cotangents, returning their list)."""
  outputs = [o for o, _ in branches]
  widths = [int(o.shape[-1]) for o in outputs]

  def backward(cotangents):
    parts = tf.split(cotangents, widths, axis=-1)
    return [branch_backward(part) for (_, branch_backward), part in zip(branches, parts)]
  return tf.concat(outputs, axis=-1), backward


def channel_field(per_channel, shape):
  """A [C] vector (or an [H, W, 1] field) broadcast to one sample's [H, W, C] (`shape`:
  [n, H, W, C]). A product of the [K, n, H, W, C] cotangents with it runs at the speed of an
  elementwise product, several times faster (measured: 2 against 10 ms at K=24, n=72, 32x32x3)
  than with TensorFlow's broadcast of the small tensor itself."""
  return tf.broadcast_to(per_channel, shape[1:])


def batch_norm(x, layer, rows):
  """BatchNorm on the batch's statistics (training mode) over all axes but the last: rows of its
  gamma. With x_hat normalised and m values per channel, for each cotangent dy:
  dgamma = sum(dy * x_hat), dbeta = sum(dy),
  dx = gamma / sqrt(var + eps) * dy - gamma / sqrt(var + eps) * (dbeta + x_hat * dgamma) / m.
  Both sums of all K cotangents come from one matrix product with the basis
  [1 (x) I, x_hat (x) I] ([size, 2C]), and the correction from one with its transpose: two
  passes over the cotangents where the elementwise form makes about six (the elementwise form
  where the basis would be large, `pfor_gradients.basis_fits`).
  The moving statistics are not updated: no indicator reads them."""
  axes = list(range(x.shape.rank - 1))
  channels = x.shape[-1]
  gamma = tf.convert_to_tensor(layer.gamma) if layer.scale else None
  beta = tf.convert_to_tensor(layer.beta) if layer.center else None
  with_basis = pfor_gradients.basis_fits(x.shape, channels)
  y, x_hat, scale, basis = normalized(x, gamma, beta, layer.epsilon,
                                       channels if with_basis else 0)
  count = tf.cast(tf.size(x) // channels, x.dtype)
  scale_field = channel_field(scale, x.shape)
  sum_axes = [axis + 1 for axis in axes]
  expand = tuple([slice(None)] + [None] * len(axes))  # [K, C] -> [K, 1, ..., 1, C]

  def backward(cotangents):
    if basis is not None:
      sum_dy_x_hat, inputs = _batch_norm_backward_by_basis()(cotangents, basis, scale,
                                                             scale_field, count)
    else:
      sum_dy = tf.reduce_sum(cotangents, sum_axes)
      sum_dy_x_hat = tf.reduce_sum(cotangents * x_hat, sum_axes)
      correction = scale * (sum_dy[expand] + x_hat * sum_dy_x_hat[expand]) / count
      inputs = cotangents * scale_field - correction
    if gamma is not None:
      rows.add(layer.gamma, sum_dy_x_hat)
    return inputs
  return y, backward


def normalized(x, gamma, beta, epsilon, basis_channels):
  """BN's forward: (y, x_hat, gamma / sqrt(var + eps), the statistics basis of `basis_channels`
  channels, or None for 0). `gamma` and `beta` may be None (a BN without them)."""
  affine = [t for t in (gamma, beta) if t is not None]
  return _normalized(gamma is not None, beta is not None, epsilon, basis_channels)(x, *affine)


@traced_step
def _normalized(has_gamma, has_beta, epsilon, basis_channels, x, *affine):
  gamma = affine[0] if has_gamma else None
  beta = affine[-1] if has_beta else None
  mean, variance = tf.nn.moments(x, list(range(x.shape.rank - 1)))
  inv_std = tf.math.rsqrt(variance + epsilon)
  x_hat = (x - mean) * inv_std
  y = x_hat if gamma is None else x_hat * gamma
  if beta is not None:
    y = y + beta
  scale = inv_std if gamma is None else gamma * inv_std
  basis = pfor_gradients.statistics_basis(x_hat, basis_channels) if basis_channels else None
  return y, x_hat, scale, basis


@traced_step
def _batch_norm_backward_by_basis(cotangents, basis, scale, scale_field, count):
  k = tf.shape(cotangents)[0]
  channels = tf.shape(scale)[0]
  sums = tf.matmul(tf.reshape(cotangents, [k, -1]), basis)  # [K, 2C]: dbeta, dgamma
  correction = tf.matmul(sums * tf.tile(scale / count, [2]), basis, transpose_b=True)
  return (sums[:, channels:],
          cotangents * scale_field - tf.reshape(correction, tf.shape(cotangents)))


def avg_pool(x, size, strides, padding):
  """TensorFlow's average pool (its 'SAME' excludes the padded cells from each mean)."""
  y = tf.nn.avg_pool2d(x, size, strides, padding)
  input_shape = tf.shape(x)
  if (size, strides, padding) == (3, 1, "SAME"):
    # dx = window_sum(dy / count), count the in-bounds cells of each window: a product with
    # 1 / count and a depthwise conv with a kernel of ones, both faster than AvgPoolGrad.
    ones = tf.ones_like(x[:1, :, :, :1])
    count = 9.0 * tf.nn.avg_pool2d(tf.pad(ones, pfor_gradients.PAD_1), 3, 1, "VALID")
    share = channel_field(1.0 / count[0], x.shape)  # [H, W, 1] -> [H, W, C]
    window = tf.ones([3, 3, x.shape[-1], 1])

  def backward(cotangents):
    k = tf.shape(cotangents)[0]
    if (size, strides, padding) == (3, 1, "SAME"):
      return unfold(tf.nn.depthwise_conv2d(fold(cotangents * share), window, [1, 1, 1, 1],
                                           "SAME"), k)
    folded = tf.raw_ops.AvgPoolGrad(
        orig_input_shape=tf.concat([[k * input_shape[0]], input_shape[1:]], 0),
        grad=fold(cotangents), ksize=[1, size, size, 1], strides=[1, strides, strides, 1],
        padding=padding)
    return unfold(folded, k)
  return y, backward


def pad(x, padding, value=0.0):
  """`tf.pad` of H and W by ((top, bottom), (left, right)) with `value`."""
  (top, bottom), (left, right) = padding
  y = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], constant_values=value)
  height, width = y.shape[1], y.shape[2]

  def backward(cotangents):
    return cotangents[:, :, top:height - bottom, left:width - right]
  return y, backward


def divided(x, divisor):
  """x / divisor, for a Python number or a tensor that broadcasts to one sample of x."""
  if isinstance(divisor, (int, float)):
    def backward(cotangents):
      return cotangents / divisor
  else:
    # One sample's [H, W, C], for the reason `channel_field` gives.
    inverse = tf.broadcast_to(1.0 / divisor, [1, *x.shape[1:]])[0]

    def backward(cotangents):
      return cotangents * inverse
  return x / divisor, backward


def global_average_pool(x):
  height, width = x.shape[1], x.shape[2]

  def backward(cotangents):
    expanded = cotangents[:, :, None, None, :] / float(height * width)
    return tf.broadcast_to(expanded, tf.concat([tf.shape(cotangents)[:2], tf.shape(x)[1:]], 0))
  return tf.reduce_mean(x, [1, 2]), backward


def dense(x, layer, rows):
  """`keras.layers.Dense` on [n, features]: rows of its kernel (not its bias)."""
  kernel = tf.convert_to_tensor(layer.kernel)
  y = tf.matmul(x, kernel)
  if layer.use_bias:
    y = y + tf.convert_to_tensor(layer.bias)

  def backward(cotangents):
    rows.add(layer.kernel, tf.matmul(x[None], cotangents, transpose_a=True))
    return tf.matmul(cotangents, kernel, transpose_b=True)
  return y, backward


def tracing_count():
  """How many times the traced steps of this module have been traced in this process (a test
  checks that scoring more candidates does not trace them again)."""
  return sum(step.experimental_get_tracing_count() for step in _TRACED_STEPS)


def forward(layer, inputs, rows):
  """(outputs, backward) of `layer` in training mode.

  A layer of the spaces runs its own `jacobian_forward`; the Keras layers they are built from are
  handled here. Raises NotImplementedError for any other layer.
  """
  if hasattr(layer, "jacobian_forward"):
    return layer.jacobian_forward(inputs, rows)
  if isinstance(layer, keras.layers.ReLU):
    return relu(inputs)
  if isinstance(layer, keras.layers.BatchNormalization):
    return batch_norm(inputs, layer, rows)
  if isinstance(layer, keras.layers.Conv2D):
    return conv2d(inputs, layer, rows)
  if isinstance(layer, keras.layers.Dense):
    return dense(inputs, layer, rows)
  if isinstance(layer, keras.layers.ZeroPadding2D):
    return pad(inputs, layer.padding)
  if isinstance(layer, keras.layers.AveragePooling2D):
    return avg_pool(inputs, layer.pool_size[0], layer.strides[0], layer.padding.upper())
  if isinstance(layer, keras.layers.GlobalAveragePooling2D):
    return global_average_pool(inputs)
  raise NotImplementedError(f"no batched backward for {type(layer).__name__} {layer.name!r}")


def logit_sum_jacobian(network_forward, images, variables, chunk_size):
  """Rows of J: per variable, [n, size], row i the gradient of sample i's logit sum.

  Args:
    network_forward: (images, rows) -> (logits [n, classes], backward), a network's forward.
    images: [n, H, W, C].
    variables: the parameters to return rows of, in this order.
    chunk_size: cotangents per backward pass (fewer: less memory; the values do not change).
  """
  images = tf.convert_to_tensor(images, tf.float32)
  rows = Rows()
  logits, backward = network_forward(images, rows)
  n, classes = logits.shape
  for start in range(0, n, chunk_size):
    # Cotangent k is e_k (x) ones(classes): the gradient of sample k's logit sum.
    picks = tf.one_hot(tf.range(start, min(start + chunk_size, n)), n)
    backward(tf.tile(picks[:, :, None], [1, 1, classes]))
  return rows.stacked(variables, n)
