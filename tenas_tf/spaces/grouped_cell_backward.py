"""The NB201 cell's batched backward grouped by node: the ops that share a tensor share its passes.

`batched_backward` differentiates each op of each edge on its own. Per conv op that is a BN
backward (two matrix products and two elementwise passes), a side-by-side transpose, a filter and
an input gradient and a ReLU mask; per pool a divide, a pool and a multiply; then sums per edge
and per node: about 35 passes over the [K, n, H, W, C] cotangents per edge of the supernet, and
an input gradient per conv. In an NB201 cell every op into node i reads node i's cotangent c_i,
and every conv out of node j reads the same ReLU(node j), so most of the work is shared:

- per target node i: ONE side-by-side transpose of c_i ([n, H, W, K * C]), from which ONE
  product with the fields 1 and z_hat of all its BNs gives every BN's sums and ONE
  `Conv2DBackpropFilter` over the ReLU'd sources concatenated on channels gives the raw kernel
  rows of every conv into i (a 1x1 conv's rows are the centre tap of a 3x3's, both 'same');
- per edge: ONE `Conv2DBackpropInput` with the edge's combined kernel (its 3x3 and centred 1x1
  kernels, each scaled by its BN scale and its weight in the edge's mean);
- per source node j: ONE matrix product applies the z_hat part of every BN correction of every
  conv out of j (a small one, broadcast over the batch, the constant part), one ReLU mask, one
  window sum for its pools and one running sum for its skips.

BN's algebra is folded into the conv as in `pfor_gradients.conv_batch_norm_training`: with
z_hat the conv's normalised output, s = gamma / sqrt(var + eps), m values per channel, w the
conv's weight in its edge's mean (its alive bit / the live ops), dy = w c_i the BN's output
cotangent, A = s sum(dy) / m and B = s sum(dy z_hat) / m, the conv output's cotangent is
s dy - A - z_hat B, so
  kernel rows = w s filter(x, c_i) - A filter(x, 1) - B filter(x, z_hat),
  input cotangent = mask * (input_grad(c_i, w s W) - sum_c [A_c input_grad(1_c, W)
                                                            + B_c input_grad(z_hat_c, W)]),
where the filter and input gradients of the fields 1_c and z_hat_c use forward tensors only and
are computed once per forward, not per chunk of cotangents. The values equal the op-by-op
backward's to float32 round-off (`tests/spaces/grouped_cell_backward_test.py`).

Every op of the cell runs times its alive bit, so a dead one adds exactly zero and has zero
rows, and the NB201 supernet traces this backward once (`batched_backward.traced_jacobian`) for
every mask. The live ops get the bits an op-by-op sum of the live ones alone would: the weights
are rounded as 1 / count (and 1 / (count m)) in float64 and then to float32, bits multiply
exactly, and zeros add exactly.
Reference: TE-NAS (Chen et al., ICLR 2021) section 3.1; NAS-Bench-201 (Dong & Yang, ICLR 2020)
section 2.1 (the cell).
"""

import dataclasses

import tensorflow as tf

from tenas_tf.spaces import batched_backward
from tenas_tf.spaces import ops as ops_lib
from tenas_tf.spaces import pfor_gradients

_UNIT = [1, 1, 1, 1]


@dataclasses.dataclass
class _ConvBN:
  """One ReLU-conv-BN op (live or dead) and the forward tensors its backward needs."""

  op: ops_lib.ReLUConvBN
  source: int
  bit: tf.Tensor  # its alive bit
  weight: tf.Tensor  # its weight in its edge's mean: the bit * the edge's 1 / count
  weight_per_value: tf.Tensor  # weight / m, m the values per channel
  kernel: tf.Tensor  # [k, k, C, C]
  scale: tf.Tensor  # [C]: gamma / sqrt(var + eps)
  z_hat: tf.Tensor  # [n, H, W, C]
  # The kernel rows of its BN's fields 1 ([k, k, C, 1]) and z_hat ([k, k, C, C], output channel c
  # the field z_hat_c's), so that the correction of K kernel rows is A (x) the first + B * the
  # second.
  field_rows: tuple = None
  row_scale: tf.Tensor = None  # [C]: w * s, the raw kernel rows' factor

  @property
  def size(self):
    """The kernel's spatial size k."""
    return int(self.kernel.shape[0])


def _largest_size(convs):
  """The largest kernel size of `convs`: the size their kernels or rows are centred in."""
  return max(conv.size for conv in convs)


@dataclasses.dataclass
class _NodeGroup:
  """The convs into one node and what their kernel rows and BN sums are computed from."""

  convs: list
  sources: list  # the convs' source nodes, sorted: the order of `inputs`' channel blocks
  size: int  # the largest kernel size
  inputs: tf.Tensor  # [n, H, W, C * sources]: the sources' ReLU'd states side by side
  fields: tf.Tensor  # [n * H * W, 1 + C * convs]: the fields 1 and z_hat of their BNs
  coefficient_scales: tf.Tensor  # [convs, 1, C]: A = sum(c_i) * this, B = sum(c_i z_hat) * this
  weights: tf.Tensor  # [convs, 1, 1]: each conv's weight in its edge's mean


@dataclasses.dataclass
class _Edge:
  """One edge's ops; its 1 / count (and / m) rounded to float32 from float64, as Python would."""

  source: int
  target: int
  weight: tf.Tensor  # 1 / the count its mean divides by
  weight_per_value: tf.Tensor  # weight / m, m the values per channel
  convs: list = dataclasses.field(default_factory=list)
  pool_weight: tf.Tensor = None  # the 3x3 average pool's weight in the mean (None: no pool)
  skip_weight: tf.Tensor = None  # the identity's (None: no identity)
  kernel: tf.Tensor = None  # the combined, scaled kernel of its convs' input gradients
  pool_share: tf.Tensor = None  # [H, W, C]: w / the in-bounds cells of each 3x3 window


@dataclasses.dataclass
class _Pending:
  """What has flowed into one node's cotangent so far (running sums, None for nothing yet: a
  chunk's tensors are freed as soon as they are added), finished when the node is reached."""

  convs: tf.Tensor = None  # sum of input_grad(c_i, combined kernel), before BN corrections
  corrections: dict = dataclasses.field(default_factory=dict)  # id(conv) -> (A, B), [K, C] each
  pooled: tf.Tensor = None  # sum of c_i * w / window count, before the window sum
  skipped: tf.Tensor = None  # sum of c_i * w


def _centred(kernel, size):
  """A [k, k, ...] kernel zero-padded to [size, size, ...] around its centre."""
  pad = (size - int(kernel.shape[0])) // 2
  if not pad:
    return kernel
  return tf.pad(kernel, [[pad, pad], [pad, pad], [0, 0], [0, 0]])


def _input_grad(cotangents, kernel, input_shape):
  """Conv2DBackpropInput of a stride-1 'same' conv: [B, H, W, C_out] -> [B, H, W, C_in]."""
  return tf.raw_ops.Conv2DBackpropInput(
      input_sizes=input_shape, filter=kernel, out_backprop=cotangents, strides=_UNIT,
      padding="SAME")


def _correction_fields(out_of, shape):
  """Per source node, the input gradients through the kernels of the convs out of it (in
  `out_of`'s order) of their fields 1_c (the same for every sample: [C * convs, H * W * C_in],
  one sample's) and z_hat_c (z_hat's channel c alone: [C * convs, n * H * W * C_in]).

  The whole cell's fields in ONE `_channel_input_grads`: every conv's z_hat side by side on
  channels, the field 1 as an extra first sample, and the kernels stacked on their output
  channels (a 1x1 kernel centred in the 3x3: the same 'same' conv). One call instead of two per
  conv: a call is a dozen small eager ops, about 1 ms on 2 cores at the search's sizes.
  """
  sources = sorted(out_of)
  convs = [conv for source in sources for conv in out_of[source]]
  size = _largest_size(convs)
  z_hats = tf.concat([conv.z_hat for conv in convs], -1)  # [n, H, W, C * convs]
  spread = _channel_input_grads(
      tf.concat([tf.ones_like(z_hats[:1]), z_hats], 0),
      tf.concat([_centred(conv.kernel, size) for conv in convs], -1))
  one_sample = int(shape[1] * shape[2] * shape[3])
  constant, normal = tf.split(spread, [one_sample, -1], axis=1)
  counts = [int(shape[-1]) * len(out_of[source]) for source in sources]
  return dict(zip(sources, zip(tf.split(constant, counts), tf.split(normal, counts))))


def _channel_input_grads(fields, kernel):
  """Per channel c of `fields` [b, H, W, C] alone, its input gradient through a stride-1 'same'
  conv's `kernel` [k, k, C_in, C] (k odd): [C, b * H * W * C_in].

  One depthwise conv with the kernel flipped and transposed as its channel multiplier: channel c
  is spread to the C_in input channels through W[..., c] and no channel meets another's kernel.
  (Measured on 2 cores: 1.5-2x faster than the input gradient of the C masked copies
  [C * b, H, W, C] it replaces, with the same values.)
  """
  b, height, width, channels = fields.shape
  inputs = int(kernel.shape[2])
  spread = tf.nn.depthwise_conv2d(fields, tf.transpose(kernel[::-1, ::-1], [0, 1, 3, 2]), _UNIT,
                                  "SAME")  # [b, H, W, C * C_in], channel c * C_in + i
  return tf.reshape(tf.transpose(tf.reshape(spread, [b, height, width, channels, inputs]),
                                 [3, 0, 1, 2, 4]), [channels, -1])


def cell_forward(inputs, edges, rows):
  """An NB201 cell's training-mode forward: (its last node, backward of that node's cotangents).

  Every op given runs times its alive bit: a dead op adds exactly zero (and zero rows), so one
  traced graph serves every alive mask of a search.

  Args:
    inputs: node 0, [n, H, W, C].
    edges: per edge, (source node, target node, [(op layer, its alive bit)], the count the
      edge's mean divides by) (`MixedEdge.ops_and_bits`); the layers are `ReLUConvBN`s (stride
      1, odd kernel), stride-1 `AvgPool3x3`s and `Identity`s, at most one pool and one identity
      per edge.
    rows: the `batched_backward.Rows` the backward adds the kernel and gamma rows to.

  Returns:
    (the last node [n, H, W, C], backward: its [K, n, H, W, C] cotangents -> those of node 0).
  """
  states = [inputs]
  relus, masks = {}, {}
  cell_edges = []
  values_per_channel = float(inputs.shape[0] * inputs.shape[1] * inputs.shape[2])
  for target in sorted({target for _, target, _, _ in edges}):
    incoming = []
    for source, _, ops_and_bits, count in (edge for edge in edges if edge[1] == target):
      inverse = 1.0 / tf.cast(count, tf.float64)
      edge = _Edge(source, target, tf.cast(inverse, tf.float32),
                   tf.cast(inverse / values_per_channel, tf.float32))
      x = states[source]
      outputs = []
      for layer, bit in ops_and_bits:
        if isinstance(layer, ops_lib.ReLUConvBN):
          if layer.strides != 1 or layer.pad is not None:
            raise NotImplementedError(f"{layer.name}: only stride-1 'same' convs are grouped")
          if source not in relus:
            relus[source] = tf.nn.relu(x)
            masks[source] = tf.cast(x > 0, x.dtype)
          output = _conv_bn_forward(layer, relus[source], edge, bit)
        elif (isinstance(layer, ops_lib.AvgPool3x3) and layer.strides == 1
              and edge.pool_weight is None):
          edge.pool_weight = edge.weight * bit
          output = tf.nn.avg_pool2d(x, 3, 1, "SAME")
        elif isinstance(layer, ops_lib.Identity) and edge.skip_weight is None:
          edge.skip_weight = edge.weight * bit
          output = x
        else:
          raise NotImplementedError(
              f"{layer.name}: no grouped backward for {type(layer).__name__}")
        outputs.append(output * bit)
      if outputs:
        cell_edges.append(edge)
        incoming.append(batched_backward.sum_in_order(outputs) / tf.cast(count, tf.float32))
    states.append(batched_backward.sum_in_order(incoming) if incoming
                  else tf.zeros_like(inputs))
  return states[-1], _backward(cell_edges, states, relus, masks, rows)


def _conv_bn_forward(layer, x, edge, bit):
  """BN(conv(x)) of a `ReLUConvBN` on its ReLU'd input; records the op on `edge`."""
  kernel = tf.convert_to_tensor(layer.conv.kernel)
  bn = layer.bn
  gamma = tf.convert_to_tensor(bn.gamma) if bn.scale else None
  beta = tf.convert_to_tensor(bn.beta) if bn.center else None
  y, z_hat, scale, _ = batched_backward.normalized(
      tf.nn.conv2d(x, kernel, 1, "SAME"), gamma, beta, bn.epsilon, 0)
  edge.convs.append(_ConvBN(layer, edge.source, bit, edge.weight * bit,
                            edge.weight_per_value * bit, kernel, scale, z_hat))
  return y


def _node_groups(edges, relus, shape):
  """Per target node with convs, its `_NodeGroup`; fills each conv's field rows."""
  channels = int(shape[-1])
  groups = {}
  for target in sorted({edge.target for edge in edges}):
    convs = [conv for edge in edges if edge.target == target for conv in edge.convs]
    if not convs:
      continue
    sources = sorted({conv.source for conv in convs})
    size = _largest_size(convs)
    inputs = tf.concat([relus[source] for source in sources], -1)
    # The fields 1 and z_hat of every BN into the node, side by side: [n, H, W, 1 + C * convs].
    fields = tf.concat([tf.ones_like(convs[0].z_hat[..., :1])] +
                       [conv.z_hat for conv in convs], -1)
    # filter(x, 1) once, filter(x, z_hat) per conv, for every source at once.
    field_rows = tf.raw_ops.Conv2DBackpropFilter(
        input=inputs,
        filter_sizes=[size, size, channels * len(sources), 1 + channels * len(convs)],
        out_backprop=fields, strides=_UNIT, padding="SAME")
    blocks = _source_blocks(field_rows, convs, sources, 2)
    pieces = {key: tf.split(block, [1] + [channels] * len(convs), axis=-1)
              for key, block in blocks.items()}
    for index, conv in enumerate(convs):
      ones, *normal = pieces[conv.source, conv.size]
      conv.field_rows = (ones, normal[index])
      conv.row_scale = conv.scale * conv.weight
    groups[target] = _NodeGroup(
        convs, sources, size, inputs, tf.reshape(fields, [-1, fields.shape[-1]]),
        tf.stack([conv.scale * conv.weight_per_value for conv in convs])[:, None],
        tf.reshape(tf.stack([conv.weight for conv in convs]), [-1, 1, 1]))
  return groups


def _source_blocks(rows, convs, sources, axis):
  """{(source, kernel size): its block of `rows`}, for each source and size of `convs`.

  `rows` holds the rows of kernels of the largest size, [..., size, size, ...], with the sources'
  input channels side by side on `axis` (in `sources`' order); a smaller conv's rows are the
  centre taps of its source's block. One split, and one slice per source and smaller size:
  a slice per conv costs more than its arithmetic at the search's sizes.
  """
  by_source = dict(zip(sources, tf.split(rows, len(sources), axis=axis)))
  blocks = {}
  for conv in convs:
    key = (conv.source, conv.size)
    if key not in blocks:
      blocks[key] = _centred_taps(by_source[conv.source], key[1], axis)
  return blocks


def _backward(edges, states, relus, masks, rows):
  """The backward of `cell_forward`; its forward-only tensors are computed here, once."""
  nodes = len(states)
  shape = states[0].shape
  channels = int(shape[-1])
  # 1 / the in-bounds cells of each 3x3 window, as an [H, W, C] field (`channel_field`).
  window_share = batched_backward.channel_field(1.0 / (9.0 * tf.nn.avg_pool2d(
      tf.pad(tf.ones([1, shape[1], shape[2], 1]), pfor_gradients.PAD_1), 3, 1, "VALID"))[0],
      shape)
  groups = _node_groups(edges, relus, shape)
  for edge in edges:
    if edge.convs:
      size = _largest_size(edge.convs)
      edge.kernel = edge.weight * batched_backward.sum_in_order(
          [_centred(conv.kernel * conv.scale, size) * conv.bit for conv in edge.convs])
    if edge.pool_weight is not None:
      edge.pool_share = edge.pool_weight * window_share
  window_sum = tf.ones([3, 3, channels, 1])  # a depthwise kernel of ones
  # Per source node, the correction fields of the convs out of it, stacked in a fixed order.
  out_of = {}
  for target in sorted(groups):
    for conv in groups[target].convs:
      out_of.setdefault(conv.source, []).append(conv)
  correction_fields = _correction_fields(out_of, shape) if out_of else {}

  def node_cotangent(pending, node, k):
    """The cotangent of `node` from what has flowed into it, or None where nothing has."""
    parts = []
    if pending.convs is not None:
      if len(pending.corrections) < len(out_of[node]):
        zero = (tf.zeros([k, channels]),) * 2  # the convs of a node no cotangent reached
        for conv in out_of[node]:
          pending.corrections.setdefault(id(conv), zero)
      a, b = zip(*(pending.corrections[id(conv)] for conv in out_of[node]))
      constant, normal = correction_fields[node]
      # The constant fields' correction is the same for every sample: broadcast over them.
      parts.append((pending.convs - tf.reshape(tf.matmul(tf.concat(b, 1), normal),
                                               pending.convs.shape)
                    - tf.reshape(tf.matmul(tf.concat(a, 1), constant), [k, 1, *shape[1:]]))
                   * masks[node])
    if pending.pooled is not None:
      parts.append(batched_backward.unfold(tf.nn.depthwise_conv2d(
          batched_backward.fold(pending.pooled), window_sum, _UNIT, "SAME"), k))
    if pending.skipped is not None:
      parts.append(pending.skipped)
    if not parts:
      return None
    return batched_backward.sum_in_order(parts)

  def backward(cotangents):
    k = int(cotangents.shape[0])
    pending = [_Pending() for _ in range(nodes)]
    cotangent = cotangents
    for target in reversed(range(1, nodes)):
      if target < nodes - 1:
        cotangent = node_cotangent(pending[target], target, k)
        pending[target] = None
        if cotangent is None:
          continue
      if target in groups:
        _add_conv_rows(groups[target], cotangent, k, channels, rows, pending)
      for edge in edges:
        if edge.target != target:
          continue
        into = pending[edge.source]
        if edge.convs:
          into.convs = batched_backward.summed(into.convs, batched_backward.unfold(_input_grad(
              batched_backward.fold(cotangent), edge.kernel, [k * shape[0], *shape[1:]]), k))
        if edge.pool_weight is not None:
          # A pool's input cotangent is the window sum of its output's / the window's count.
          into.pooled = batched_backward.summed(into.pooled, cotangent * edge.pool_share)
        if edge.skip_weight is not None:
          into.skipped = batched_backward.summed(into.skipped, cotangent * edge.skip_weight)
    inputs = node_cotangent(pending[0], 0, k)
    return batched_backward.zero_cotangents(cotangents, states[0]) if inputs is None else inputs
  return backward


def _centred_taps(kernel_rows, size, channel_axis):
  """The centre [size, size] taps of rows [..., k, k, C_in, ...] whose input channels are on
  `channel_axis` (a 1x1 conv's rows inside a 3x3's)."""
  pad = (int(kernel_rows.shape[channel_axis - 2]) - size) // 2
  if not pad:
    return kernel_rows
  begin = [0] * kernel_rows.shape.rank
  begin[channel_axis - 2] = begin[channel_axis - 1] = pad
  extent = list(kernel_rows.shape)
  extent[channel_axis - 2] = extent[channel_axis - 1] = size
  return tf.slice(kernel_rows, begin, extent)


def _add_conv_rows(group, cotangent, k, channels, rows, pending):
  """The kernel and gamma rows of every conv into one node, and the coefficients (A, B) of their
  BN corrections (left with their sources' pending cotangents).

  Both come from the cotangent's side-by-side layout [n, H, W, K * C]: the filter gradient's
  input, and, in one product with the BNs' fields [n * H * W, 1 + C * convs], every BN's
  sum(c_i) and sum(c_i z_hat) (the product also pairs channels that are not the same: the
  diagonal is kept; C is small).
  """
  convs = group.convs
  side = batched_backward.side_by_side(cotangent)
  products = tf.matmul(group.fields, tf.reshape(side, [-1, k * channels]), transpose_a=True)
  sum_dy, sum_dy_z_hat = tf.split(products, [1, channels * len(convs)])
  sum_dy_z_hat = tf.linalg.diag_part(tf.transpose(
      tf.reshape(sum_dy_z_hat, [len(convs), channels, k, channels]), [0, 2, 1, 3]))
  a = tf.reshape(sum_dy, [k, channels]) * group.coefficient_scales  # [convs, K, C]
  b = sum_dy_z_hat * group.coefficient_scales
  gamma_rows = tf.unstack(sum_dy_z_hat * group.weights)
  kernel_shaped = [k, 1, 1, 1, channels]
  raw_rows = _source_blocks(batched_backward.kernel_rows(
      group.inputs, [group.size, group.size, channels * len(group.sources), channels], side,
      _UNIT, "SAME", _UNIT), convs, group.sources, 3)
  for index, (conv, a_conv, b_conv) in enumerate(zip(convs, tf.unstack(a), tf.unstack(b))):
    if conv.op.bn.scale:
      rows.add(conv.op.bn.gamma, gamma_rows[index])
    ones_rows, normal_rows = conv.field_rows
    correction = (tf.reshape(a_conv, kernel_shaped) * ones_rows +
                  tf.reshape(b_conv, kernel_shaped) * normal_rows)
    own = raw_rows[conv.source, conv.size]
    rows.add(conv.op.conv.kernel, own * conv.row_scale - correction)
    pending[conv.source].corrections[id(conv)] = (a_conv, b_conv)
