"""Per-sample Jacobians of the indicator networks: one forward, a backward over many cotangents.

The NTK indicator needs J, the gradient of each sample's logit sum with respect to the network's
NTK parameters, with BatchNorm on the batch's statistics (so every row of J depends on the whole
batch). `tape.jacobian` vectorises the n backward passes with pfor: fast once traced, but pfor's
rewriting of the graph costs tens of seconds to minutes and gigabytes before the first score.

Here each layer runs its forward once and returns a *backward*: a function from a chunk of K
cotangents of its output, [K, n, ...], to the K cotangents of its input, which also adds the
layer's parameter rows ([K, ...], one per cotangent) to a `Rows`. pfor never runs. The layers
are made of *primitives* (ReLU, zero padding, conv, depthwise conv, BatchNorm, pools, Dense:
pure functions of tensors, `Primitive`), which run in fused steps: a run
of them, such as a DARTS `sep_conv` (ten primitives), is ONE traced forward and ONE traced
backward per chunk, each traced once per kind of run and tensor shapes (`tracing_count`), not
per candidate of a search. The forward tensors a backward needs (ReLU masks, BN's normalised
values, conv inputs) are computed once, in the forward, and shared by every chunk.

A layer joins by offering `jacobian_primitives()` (a run of primitives) or, where it branches,
`jacobian_forward(inputs, rows)` -> (outputs, backward): the edges, cells and networks of the
spaces, whose glue (sums, splits, the alive mask) joins the fused steps of their ops.
The networks' `logit_sum_jacobian` runs the whole thing as ONE traced graph (`traced_jacobian`)
that runs every built op times its alive bit, so that a mask change needs no new trace.
Reference: TE-NAS (Chen et al., ICLR 2021) section 3.1 (the NTK, a Gram matrix of per-sample
Jacobians); README "Faithful to the reference".
"""

import contextlib
import dataclasses
import functools
import operator

import keras
import numpy as np
import tensorflow as tf

from tenas_tf.spaces import pfor_gradients

_traces = 0  # runs of the Python bodies of this module's `tf.function`s: `tracing_count`


def _counted(function):
  """`function`, counting each run of its body: under `tf.function`, each trace. A count kept
  here, not a list of the functions, lets a network's traced Jacobian die with the network."""
  def counted(*args):
    global _traces
    _traces += 1
    return function(*args)
  return counted


def traced_step(function):
  """`function(*settings, *tensors)` as `step(*settings)(*tensors)`: one `tf.function` per
  tuple of settings (hashable Python values: strides, padding, epsilon), taking tensors only.

  A `tf.function` called with Python lists or strings among its arguments rebuilds their trace
  types at every call: measured here, 0.8 ms a call for an identity function with the conv's
  settings against 0.3 ms with three tensors, and a DARTS kappa makes hundreds of such calls.

  Each step traces once per set of tensor shapes, all of them static in the trace. It never
  relaxes a shape to None (`reduce_retracing`): a relaxed trace may round differently from a
  static one, and which of them a call gets would then depend on what the process ran before
  (the in-process scores and those of fresh Ray workers differed in the 7th digit that way).
  The steps have no Python control flow on tensors, so they trace without autograph, which
  took a quarter of a first NB201 kappa (5.3 against 3.8 s at batch 72 on 2 cores).
  """
  steps = {}

  def step(*settings):
    if settings not in steps:
      steps[settings] = tf.function(_counted(functools.partial(function, *settings)),
                                    autograph=False)
    return steps[settings]
  step.body = function  # to run it inside another traced step, as part of that trace
  return step


class Rows:
  """The Jacobian rows of the parameters, as the backward passes add them, chunk after chunk."""

  def __init__(self):
    self._chunks = {}  # id(variable) -> [K, ...] row blocks, in the order the chunks ran

  def add(self, variable, rows):
    self._chunks.setdefault(id(variable), []).append(rows)

  def everything(self):
    """Every row block added so far."""
    return [block for blocks in self._chunks.values() for block in blocks]

  def stacked(self, variables, n):
    """Per variable of `variables`, its [n, size] rows; zeros for one no backward reached."""
    return [tf.reshape(tf.concat(self._chunks[id(v)], 0), [n, -1]) if id(v) in self._chunks
            else tf.zeros([n, int(np.prod(v.shape))]) for v in variables]


def fold(cotangents):
  """[K, n, ...] -> [K * n, ...]: K cotangent batches as one batch for the conv and pool ops.

  Here, and in every helper of this module, shapes are static: the backward runs eagerly or in
  traced steps, which never relax a shape (`traced_step`). In eager mode a static reshape is one
  op where shape arithmetic makes four."""
  return tf.reshape(cotangents, [-1, *cotangents.shape[2:]])


def unfold(folded, k):
  return tf.reshape(folded, [k, -1, *folded.shape[1:]])


def chain(*backwards):
  """The backward of layers run in sequence, given their backwards last layer first (None: a
  layer that is absent)."""
  backwards = [b for b in backwards if b is not None]

  def backward(cotangents):
    for step in backwards:
      cotangents = step(cotangents)
    return cotangents
  return backward


def sequence(layers, inputs, rows, input_cotangents=True):
  """Runs `layers` (None entries skipped) one after another: (outputs, backward).

  Each run of consecutive layers made of primitives (`primitives_of`) is ONE `fused` step.
  `input_cotangents=False` (a network's first layers, which must be made of primitives) skips the
  input's cotangents: the backward returns None.
  """
  backwards, run = [], []
  for layer in [layer for layer in layers if layer is not None] + [None]:
    primitives = None if layer is None else primitives_of(layer)
    if primitives is not None:
      run.extend(primitives)
      continue
    if run:
      inputs, backward = fused(run, inputs, rows, input_cotangents or bool(backwards))
      backwards.append(backward)
      run = []
    if layer is not None:
      if not (input_cotangents or backwards):
        raise ValueError(f"{layer.name}: input_cotangents=False needs a first layer made of "
                         "primitives")
      inputs, backward = forward(layer, inputs, rows)
      backwards.append(backward)
  return inputs, chain(*reversed(backwards))


def added(branches):
  """Sums branch outputs: given [(outputs, backward)], (sum, backward feeding each branch the
  cotangent and summing their input cotangents)."""
  total = sum_in_order([o for o, _ in branches])

  def backward(cotangents):
    return sum_in_order([b(cotangents) for _, b in branches])
  return total, backward


def scaled(branch, factor):
  """A branch (outputs, backward) times `factor` (a scalar: an op's alive bit)."""
  outputs, backward = branch
  return outputs * factor, lambda cotangents: backward(cotangents * factor)


def sum_in_order(tensors):
  """The sum of `tensors` (one or more), added left to right: the same bits in every run.

  Not `tf.add_n`: in a traced graph TensorFlow's CPU AddN kernel adds into an input buffer it may
  reuse, moved to the front, and which one it may reuse depends on which other ops have finished,
  so the order of the additions (and the float32 round-off) can change from run to run. Eagerly
  AddN adds left to right too (its inputs are referenced from Python, never reused).
  """
  return functools.reduce(operator.add, tensors)


def zero_cotangents(cotangents, inputs):
  """Zero cotangents of `inputs`, as many as `cotangents` holds: [K, *inputs.shape]."""
  return tf.zeros([cotangents.shape[0], *inputs.shape], inputs.dtype)


def summed(total, cotangents):
  """`total` + `cotangents`, where a None total (nothing has flowed in yet) counts as zero: how a
  state read by several layers gathers their cotangents."""
  return cotangents if total is None else total + cotangents


def zeros(outputs_like, inputs):
  """Zeros shaped like `outputs_like`, whose backward gives zero cotangents to `inputs`."""
  return tf.zeros_like(outputs_like), lambda cotangents: zero_cotangents(cotangents, inputs)


def side_by_side(cotangents):
  """[K, n, h, w, c] -> [n, h, w, K * c]: the K cotangents as the output channels of one batch."""
  k, n, height, width, channels = cotangents.shape
  return tf.reshape(tf.transpose(cotangents, [1, 2, 3, 0, 4]), [n, height, width, k * channels])


def from_side_by_side(side, k):
  """[n, h, w, K * c] -> [K, n, h, w, c]: the inverse of `side_by_side`."""
  n, height, width, channels = side.shape
  return tf.transpose(tf.reshape(side, [n, height, width, k, channels // k]), [3, 0, 1, 2, 4])


def kernel_rows(x, kernel_shape, side, strides, padding, dilations):
  """[K, kh, kw, c_in, c_out]: the kernel gradient of a conv of `x` for each of K cotangents, from
  ONE `Conv2DBackpropFilter` of them side by side (`side`: [n, h, w, K * c_out], their
  `side_by_side`) as K * c_out output channels. `kernel_shape`: [kh, kw, c_in, c_out], a list."""
  k = side.shape[-1] // kernel_shape[3]
  rows = tf.raw_ops.Conv2DBackpropFilter(
      input=x, filter_sizes=kernel_shape[:3] + [k * kernel_shape[3]], out_backprop=side,
      strides=strides, padding=padding, dilations=dilations)
  return tf.transpose(tf.reshape(rows, kernel_shape[:3] + [k, -1]), [3, 0, 1, 2, 4])


class Kind:
  """A kind of primitive layer: two pure functions of tensors and hashable settings.

  forward(settings, x, *weights) -> (y, saved): `saved`, a tuple of the forward tensors that
  backward needs. backward(settings, input_cotangents, cotangents, saved, weights) -> (the K
  cotangents of x, or None where `input_cotangents` is False; a tuple of the K rows of each row
  variable). Kinds compare by identity, so a test may swap in a mutant and get its own traces.
  """

  def __init__(self, name, forward, backward):
    self.name = name
    self.forward = forward
    self.backward = backward

  def __repr__(self):
    return f"Kind({self.name})"


@dataclasses.dataclass(frozen=True)
class Primitive:
  """One primitive layer of a fused step: its kind, settings and weights."""

  kind: Kind
  settings: tuple = ()
  weights: tuple = ()  # the tensors the kind's functions take after x (kernels, gamma, beta)
  row_variables: tuple = ()  # the variables whose rows the backward gives, in its order


def fused(primitives, inputs, rows, input_cotangents=True):
  """Runs `primitives` one after another as ONE traced step: (outputs, backward), whose backward
  is ONE traced step per chunk of cotangents and adds every primitive's rows to `rows`.

  Both steps are traced once per sequence of kinds and settings and per set of tensor shapes
  (`traced_step`), so the candidates of a search share their traces. Measured on a DARTS kappa
  at the tests' batch of 6, a traced-step call costs about 1 ms however little it runs, and a
  `sep_conv` made six calls and some 40 eager ops per chunk before it was fused.
  """
  plan = tuple((p.kind, p.settings, len(p.weights)) for p in primitives)
  weights = [weight for p in primitives for weight in p.weights]
  outputs, saved = _fused_forward(plan)(inputs, *weights)
  step = _fused_backward(plan, tuple(len(kept) for kept in saved), input_cotangents)
  saved = [tensor for kept in saved for tensor in kept]
  variables = [variable for p in primitives for variable in p.row_variables]

  def backward(cotangents):
    input_cotangents, own_rows = step(cotangents, *weights, *saved)
    for variable, variable_rows in zip(variables, own_rows):
      rows.add(variable, variable_rows)
    return input_cotangents
  return outputs, backward


@traced_step
def _fused_forward(plan, x, *weights):
  saved = []
  for (kind, settings, _), own_weights in zip(plan, _split(weights, [n for _, _, n in plan])):
    x, kept = kind.forward(settings, x, *own_weights)
    saved.append(tuple(kept))
  return x, tuple(saved)


@traced_step
def _fused_backward(plan, saved_counts, input_cotangents, cotangents, *tensors):
  weight_counts = [n for _, _, n in plan]
  weights = _split(tensors[:sum(weight_counts)], weight_counts)
  saved = _split(tensors[sum(weight_counts):], saved_counts)
  rows = []
  for index in reversed(range(len(plan))):
    kind, settings, _ = plan[index]
    cotangents, own_rows = kind.backward(settings, input_cotangents or index > 0, cotangents,
                                         saved[index], weights[index])
    rows[:0] = own_rows
  return cotangents, tuple(rows)


def _split(tensors, counts):
  """`tensors` cut into consecutive groups of `counts` tensors."""
  groups, start = [], 0
  for count in counts:
    groups.append(tensors[start:start + count])
    start += count
  return groups


def _relu_forward(settings, x):
  del settings
  return tf.nn.relu(x), (tf.cast(x > 0, x.dtype),)


def _relu_backward(settings, input_cotangents, cotangents, saved, weights):
  del settings, input_cotangents, weights
  return cotangents * saved[0], ()


RELU = Kind("relu", _relu_forward, _relu_backward)


def _pad_forward(settings, x):
  ((top, bottom), (left, right)), value = settings
  return tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], constant_values=value), ()


def _pad_backward(settings, input_cotangents, cotangents, saved, weights):
  del input_cotangents, saved, weights
  ((top, bottom), (left, right)), _ = settings
  height, width = cotangents.shape[2], cotangents.shape[3]
  return cotangents[:, :, top:height - bottom, left:width - right], ()


PAD = Kind("pad", _pad_forward, _pad_backward)


def padding(sides, value=0.0):
  """Pads H and W by `sides`, ((top, bottom), (left, right)), with `value`."""
  (top, bottom), (left, right) = sides
  return Primitive(PAD, (((int(top), int(bottom)), (int(left), int(right))), float(value)))


def _conv_forward(settings, x, kernel):
  strides, padding_mode, dilations = settings
  return tf.nn.conv2d(x, kernel, strides, padding_mode, dilations=dilations), (x,)


def _conv_backward(settings, input_cotangents, cotangents, saved, weights):
  strides, padding_mode, dilations = settings
  (x,), (kernel,) = saved, weights
  side = side_by_side(cotangents)
  own_rows = kernel_rows(x, kernel.shape.as_list(), side, strides, padding_mode, dilations)
  if not input_cotangents:
    return None, (own_rows,)
  return (_input_gradient(cotangents, side, x, kernel, strides, padding_mode, dilations),
          (own_rows,))


_UNIT = (1, 1, 1, 1)
# A conv's kernel with at most this many (input, output) channel pairs takes the grouped input
# gradient (`_input_gradient`).
_GROUPED_MAX_CHANNEL_PAIRS = 16


def _input_gradient(cotangents, side, x, kernel, strides, padding_mode, dilations):
  """The K cotangents [K, n, ...] of a conv's input x from ONE conv op: the transposed conv of the
  folded chunk [K * n, h, w, c_out], or, for a stride-1 conv with a spatial (odd) kernel and few
  channels, the conv of `side` (the cotangents side by side, [n, h, w, K * c_out]) with the
  flipped kernel as K groups, transposed back.

  oneDNN's convs of 1-4 channels leave most of a CPU's vector lanes idle; as K groups the same
  work runs wide. Measured on 2 AMD EPYC cores at DARTS's sizes (K = n = 14, 1-2 channels, 3x3
  and 5x5 kernels, dilated or not): 2-10x faster with the transpose back; at NB201's ResNet
  sizes (K = 24, n = 72, 6-12 channels) no faster or slower, and for 1x1 kernels (a matrix
  product either way) 1.6-2x slower, hence the conditions. A forward conv rather than a grouped
  `Conv2DBackpropInput`, which TensorFlow's CPU kernel without oneDNN refuses. Values agree to
  float32 round-off.
  """
  k = cotangents.shape[0]
  height, width, inputs, outputs = kernel.shape
  if (strides == _UNIT and height * width > 1 and height % 2 and width % 2
      and inputs * outputs <= _GROUPED_MAX_CHANNEL_PAIRS):
    flipped = tf.tile(tf.transpose(kernel[::-1, ::-1], [0, 1, 3, 2]), [1, 1, 1, k])
    if padding_mode == "VALID":  # the input gradient of a 'valid' conv is the 'full' one
      reach = [(height - 1) * dilations[1], (width - 1) * dilations[2]]
      side = tf.pad(side, [[0, 0], [reach[0]] * 2, [reach[1]] * 2, [0, 0]])
    return from_side_by_side(tf.nn.conv2d(side, flipped, 1, padding_mode, dilations=dilations),
                             k)
  folded = tf.raw_ops.Conv2DBackpropInput(
      input_sizes=[k * x.shape[0], *x.shape[1:]], filter=kernel,
      out_backprop=fold(cotangents), strides=strides, padding=padding_mode, dilations=dilations)
  return unfold(folded, k)


CONV = Kind("conv", _conv_forward, _conv_backward)


def conv(layer):
  """A `keras.layers.Conv2D` without bias (the only kind the spaces build): rows of its kernel."""
  if layer.use_bias or layer.groups != 1:
    raise NotImplementedError(f"{layer.name}: conv with bias or groups")
  settings = ((1, *layer.strides, 1), layer.padding.upper(), (1, *layer.dilation_rate, 1))
  return Primitive(CONV, settings, (tf.convert_to_tensor(layer.kernel),), (layer.kernel,))


def _depthwise_forward(settings, x, kernel):
  strides, dilations = settings
  dense_kernel = kernel * tf.eye(kernel.shape[2])  # [kh, kw, C, 1] -> [kh, kw, C, C]
  full = tf.nn.conv2d(x, dense_kernel, _UNIT, "VALID", dilations=dilations)
  y = full[:, ::strides, ::strides, :] if strides > 1 else full
  return y, (x, dense_kernel, full)


def _depthwise_backward(settings, input_cotangents, cotangents, saved, weights):
  del input_cotangents, weights
  strides, dilations = settings
  x, dense_kernel, full = saved
  if strides > 1:
    full_size = [cotangents.shape[0], *full.shape]
    cotangents = tf.raw_ops.StridedSliceGrad(
        shape=full_size, begin=[0, 0, 0, 0, 0], end=full_size,
        strides=[1, 1, strides, strides, 1], dy=cotangents)
  side = side_by_side(cotangents)
  dense_rows = kernel_rows(x, dense_kernel.shape.as_list(), side, _UNIT, "VALID", dilations)
  return (_input_gradient(cotangents, side, x, dense_kernel, _UNIT, "VALID", dilations),
          (tf.linalg.diag_part(dense_rows)[..., None],))


DEPTHWISE = Kind("depthwise", _depthwise_forward, _depthwise_backward)


def depthwise(layer, strides=1):
  """A `keras.layers.DepthwiseConv2D` (multiplier 1, no bias) on an already padded input: the
  stride-1 'valid' window (dilated by the layer's rate), then every `strides`-th output, as
  `tenas_tf.spaces.depthwise.depthwise_conv2d` computes it. Rows of its kernel.

  Computed as the dense conv with the block-diagonal kernel (C times the depthwise work: nothing
  for the indicator nets' 1-4 channels), whose ops take a batch of cotangents in one call each and
  run dilated on a CPU; the kernel's rows are the diagonal of the dense kernel's.
  """
  if layer.use_bias or layer.depth_multiplier != 1:
    raise NotImplementedError(f"{layer.name}: depthwise conv with bias or multiplier")
  return Primitive(DEPTHWISE, (int(strides), (1, *layer.dilation_rate, 1)),
                   (tf.convert_to_tensor(layer.kernel),), (layer.kernel,))


def _batch_norm_forward(settings, x, *affine):
  has_gamma, has_beta, epsilon = settings
  channels = x.shape[-1]
  basis_channels = channels if pfor_gradients.basis_fits(x.shape, channels) else 0
  y, x_hat, scale, basis = _normalized.body(has_gamma, has_beta, epsilon, basis_channels, x,
                                            *affine)
  return y, (x_hat, scale) + (() if basis is None else (basis,))


def _batch_norm_backward(settings, input_cotangents, cotangents, saved, weights):
  del input_cotangents, weights
  has_gamma = settings[0]
  x_hat, scale = saved[:2]
  count = float(cotangents.shape[1:-1].num_elements())
  scale_field = channel_field(scale, cotangents.shape[1:])
  if len(saved) == 3:  # the statistics basis: both sums from one matrix product, and back
    basis, k = saved[2], cotangents.shape[0]
    sums = tf.matmul(tf.reshape(cotangents, [k, -1]), basis)  # [K, 2C]: dbeta, dgamma
    correction = tf.matmul(sums * tf.tile(scale / count, [2]), basis, transpose_b=True)
    sum_dy_x_hat = sums[:, scale.shape[0]:]
    inputs = cotangents * scale_field - tf.reshape(correction, cotangents.shape)
  else:
    sum_axes = list(range(1, cotangents.shape.rank - 1))
    expand = (slice(None),) + (None,) * len(sum_axes)  # [K, C] -> [K, 1, ..., 1, C]
    sum_dy = tf.reduce_sum(cotangents, sum_axes)
    sum_dy_x_hat = tf.reduce_sum(cotangents * x_hat, sum_axes)
    inputs = (cotangents * scale_field
              - scale * (sum_dy[expand] + x_hat * sum_dy_x_hat[expand]) / count)
  return inputs, ((sum_dy_x_hat,) if has_gamma else ())


BATCH_NORM = Kind("batch_norm", _batch_norm_forward, _batch_norm_backward)


def batch_norm(layer):
  """BatchNorm on the batch's statistics (training mode) over all axes but the last: rows of its
  gamma. With x_hat normalised and m values per channel, for each cotangent dy:
  dgamma = sum(dy * x_hat), dbeta = sum(dy),
  dx = gamma / sqrt(var + eps) * dy - gamma / sqrt(var + eps) * (dbeta + x_hat * dgamma) / m.
  Both sums of all K cotangents come from one matrix product with the basis
  [1 (x) I, x_hat (x) I] ([size, 2C]), and the correction from one with its transpose: two
  passes over the cotangents where the elementwise form makes about six (the elementwise form
  where the basis would be large, `pfor_gradients.basis_fits`).
  The moving statistics are not updated: no indicator reads them."""
  weights = [tf.convert_to_tensor(v) for v, used in ((layer.gamma, layer.scale),
                                                     (layer.beta, layer.center)) if used]
  return Primitive(BATCH_NORM, (bool(layer.scale), bool(layer.center), float(layer.epsilon)),
                   tuple(weights), (layer.gamma,) if layer.scale else ())


def _max_pool_forward(settings, x):
  strides, padding_mode = settings
  y = tf.nn.max_pool2d(x, 3, strides, padding_mode)
  return y, (x, y)


def _max_pool_backward(settings, input_cotangents, cotangents, saved, weights):
  del input_cotangents, weights
  strides, padding_mode = settings
  x, y = saved
  k = cotangents.shape[0]
  grads = tf.raw_ops.MaxPoolGrad(
      orig_input=tf.tile(x, [1, 1, 1, k]), orig_output=tf.tile(y, [1, 1, 1, k]),
      grad=side_by_side(cotangents), ksize=[1, 3, 3, 1], strides=[1, strides, strides, 1],
      padding=padding_mode)
  return from_side_by_side(grads, k), ()


MAX_POOL = Kind("max_pool", _max_pool_forward, _max_pool_backward)


def max_pool(strides, padding_mode):
  """TensorFlow's 3x3 max pool; each window's cotangent goes to its (first) largest input.

  The backward is `MaxPoolGrad` of the K cotangents side by side on channels, with the forward
  tensors repeated K times on channels (the indicator nets' pools are small): an op with
  deterministic kernels on CPU and GPU, which a scatter of the argmax positions
  (`unsorted_segment_sum`) is not under TensorFlow's op determinism on a GPU. Side by side
  rather than folded into the batch, the 1-2 channels of DARTS's NTK net run wide: 1.4-2.5x
  faster on 2 cores with the transposes, the same values.
  """
  return Primitive(MAX_POOL, (int(strides), padding_mode))


def _avg_pool_forward(settings, x):
  size, strides, padding_mode = settings
  return tf.nn.avg_pool2d(x, size, strides, padding_mode), (x,)  # x: for its shape


def _avg_pool_backward(settings, input_cotangents, cotangents, saved, weights):
  del input_cotangents, weights
  size, strides, padding_mode = settings
  k, input_shape = cotangents.shape[0], saved[0].shape
  if settings == (3, 1, "SAME"):
    # dx = window_sum(dy / count), count the in-bounds cells of each window: a product with
    # 1 / count and a depthwise conv with a kernel of ones, both faster than AvgPoolGrad.
    _, _, height, width, channels = cotangents.shape
    count = 9.0 * tf.nn.avg_pool2d(tf.pad(tf.ones([1, height, width, 1]), pfor_gradients.PAD_1),
                                   3, 1, "VALID")
    share = channel_field(1.0 / count[0], cotangents.shape[1:])  # [H, W, 1] -> [H, W, C]
    window = tf.ones([3, 3, channels, 1])
    return unfold(tf.nn.depthwise_conv2d(fold(cotangents * share), window, _UNIT, "SAME"), k), ()
  folded = tf.raw_ops.AvgPoolGrad(
      orig_input_shape=[k * input_shape[0], *input_shape[1:]],
      grad=fold(cotangents), ksize=[1, size, size, 1], strides=[1, strides, strides, 1],
      padding=padding_mode)
  return unfold(folded, k), ()


AVG_POOL = Kind("avg_pool", _avg_pool_forward, _avg_pool_backward)


def avg_pool(size, strides, padding_mode):
  """TensorFlow's average pool (its 'SAME' excludes the padded cells from each mean)."""
  return Primitive(AVG_POOL, (int(size), int(strides), padding_mode))


def _global_average_pool_forward(settings, x):
  del settings
  return tf.reduce_mean(x, [1, 2]), (x,)  # x: for its shape


def _global_average_pool_backward(settings, input_cotangents, cotangents, saved, weights):
  del settings, input_cotangents, weights
  _, height, width, _ = input_shape = saved[0].shape
  expanded = cotangents[:, :, None, None, :] / float(height * width)
  return tf.broadcast_to(expanded, [cotangents.shape[0], *input_shape]), ()


GLOBAL_AVERAGE_POOL = Kind("global_average_pool", _global_average_pool_forward,
                           _global_average_pool_backward)


def _dense_forward(settings, x, kernel, *bias):
  del settings
  y = tf.matmul(x, kernel)
  return (y + bias[0] if bias else y), (x,)


def _dense_backward(settings, input_cotangents, cotangents, saved, weights):
  del settings, input_cotangents
  (x,), kernel = saved, weights[0]
  return (tf.matmul(cotangents, kernel, transpose_b=True),
          (tf.matmul(x[None], cotangents, transpose_a=True),))


DENSE = Kind("dense", _dense_forward, _dense_backward)


def dense(layer):
  """`keras.layers.Dense` on [n, features]: rows of its kernel (not its bias)."""
  weights = [tf.convert_to_tensor(layer.kernel)]
  if layer.use_bias:
    weights.append(tf.convert_to_tensor(layer.bias))
  return Primitive(DENSE, (), tuple(weights), (layer.kernel,))


def primitives_of(layer):
  """`layer` as a list of `Primitive`s, or None where it is not made of them.

  A composite layer of the spaces offers its own (`jacobian_primitives`); the Keras ReLU, zero
  padding, Conv2D, BatchNormalization, average pool, global average pool and Dense layers are
  primitives.
  """
  if hasattr(layer, "jacobian_primitives"):
    return layer.jacobian_primitives()
  if isinstance(layer, keras.layers.ReLU):
    return [Primitive(RELU)]
  if isinstance(layer, keras.layers.ZeroPadding2D):
    return [padding(layer.padding)]
  if isinstance(layer, keras.layers.Conv2D):
    return [conv(layer)]
  if isinstance(layer, keras.layers.BatchNormalization):
    return [batch_norm(layer)]
  if isinstance(layer, keras.layers.AveragePooling2D):
    return [avg_pool(layer.pool_size[0], layer.strides[0], layer.padding.upper())]
  if isinstance(layer, keras.layers.GlobalAveragePooling2D):
    return [Primitive(GLOBAL_AVERAGE_POOL)]
  if isinstance(layer, keras.layers.Dense):
    return [dense(layer)]
  return None


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


def divided(x, divisor):
  """x / divisor, a Python number (a supernet edge's mean of its live ops)."""
  return x / divisor, lambda cotangents: cotangents / divisor


def tracing_count():
  """How many times the traced functions of this module (its steps, the networks' Jacobians)
  have been traced in this process (a test checks that scoring more candidates does not trace
  them again)."""
  return _traces


def forward(layer, inputs, rows):
  """(outputs, backward) of `layer` in training mode: its own `jacobian_forward` (a layer of the
  spaces), or its primitives as a `fused` step. Raises NotImplementedError for any other layer."""
  if hasattr(layer, "jacobian_forward"):
    return layer.jacobian_forward(inputs, rows)
  primitives = primitives_of(layer)
  if primitives is None:
    raise NotImplementedError(f"no batched backward for {type(layer).__name__} {layer.name!r}")
  return fused(primitives, inputs, rows)


# Grappler's arithmetic optimizer rewrites chains of additions into AddN (see `sum_in_order`):
# with it, the traced NB201 Jacobian gave different bits in successive calls of the same graph.
# Every traced Jacobian runs without it (`traced_jacobian`'s optimizer options).
WITHOUT_ARITHMETIC_OPTIMIZER = {"arithmetic_optimization": False}
WITHOUT_GRAPPLER = {"disable_meta_optimizer": True}


@contextlib.contextmanager
def _optimizer_options(options):
  """Grappler `options` (`tf.config.optimizer.set_experimental_options`) in this thread's
  function calls, and each option as it was after.

  The options are part of the key a function's optimized graph is cached under, so they must
  hold at every call of the function, not only at the first.
  """
  previous = tf.config.optimizer.get_experimental_options()
  tf.config.optimizer.set_experimental_options(options)
  try:
    yield
  finally:
    # None leaves an option unset, TensorFlow's default: an option missing from `previous`, and
    # `disable_meta_optimizer`, which reads back False when unset. Restored as an explicit False,
    # it gave every other function a new cache key: the DARTS #LR function was optimized and
    # instantiated again at its next call (3.8 s instead of 0.23 s).
    restored = {key: previous.get(key) for key in options}
    if restored.get("disable_meta_optimizer") is False:
      restored["disable_meta_optimizer"] = None
    tf.config.optimizer.set_experimental_options(restored)


def traced_jacobian(network_forward, variables, chunk_size, optimizer_options):
  """`logit_sum_jacobian` as ONE traced function of the images, (images) -> rows.

  For a network whose forward reads its alive mask from its variable inside the graph and runs
  every op times its alive bit: traced once per image shape, it serves every candidate of a
  search (`tracing_count`). A traced graph runs the hundreds of small ops of each chunk's
  backward without the Python and eager dispatch between them, and independent ones side by side
  (on 2 cores, warm: the NB201 kappa at batch 72 1.4-1.6 s eagerly, 0.86-0.92 s traced; a DARTS
  candidate's at batch 14 0.85 s eagerly, 0.38 s traced), for a longer first call (NB201 4 s
  instead of 3, DARTS 7.5 s instead of 2.9 s).

  Args:
    network_forward, variables, chunk_size: as for `logit_sum_jacobian`.
    optimizer_options: Grappler's options at every call, `WITHOUT_ARITHMETIC_OPTIMIZER` or
      stricter (`WITHOUT_GRAPPLER`).
  """
  function = tf.function(
      _counted(lambda images: logit_sum_jacobian(network_forward, images, variables, chunk_size)),
      autograph=False)

  def jacobian(images):
    with _optimizer_options(optimizer_options):
      return function(tf.convert_to_tensor(images, tf.float32))
  return jacobian


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
    # Traced, a chunk starts after the last one's rows: chunks run side by side would hold
    # their cotangents at once (what chunking saves). Eagerly this changes nothing.
    with tf.control_dependencies(rows.everything()):
      # Cotangent k is e_k (x) ones(classes): the gradient of sample k's logit sum.
      picks = tf.one_hot(tf.range(start, min(start + chunk_size, n)), n)
    backward(tf.tile(picks[:, :, None], [1, 1, classes]))
  return rows.stacked(variables, n)
