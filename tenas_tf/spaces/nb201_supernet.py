"""The NB201 supernet as Keras layers, driven by an alive-op mask held in a variable.

One Keras model serves every candidate of a search: a candidate differs from its origin only in
one alive bit, so the search assigns the mask variable and reuses the traced graph and weights.
A dead op is exactly absent, in one of two ways (`skip_dead_ops`):
- skipped: each op runs inside a `tf.cond` on its alive bit, so a dead op computes nothing and
  its weights get no gradient (zero Jacobian columns, the same NTK). The NTK net does this: the
  vectorised Jacobian then costs nothing for dead ops and no mask multiplications for live ones.
- masked: a dead op sees a zeroed input (its ReLU pattern becomes a constant column, which never
  changes a count of distinct patterns) and its output is multiplied by zero. The linear-region
  net does this, because `num_linear_regions` records ReLU layer outputs by wrapping the layers'
  `call`, and a tensor made inside a `tf.cond` branch cannot be pulled out of it.
The tests check both against networks where dead ops are physically missing.
Reference: TENAS_SPEC.md sections 1-2.
"""

import numpy as np
import tensorflow as tf
import keras

from tenas_tf.spaces import init as init_lib
from tenas_tf.spaces import nb201
from tenas_tf.spaces import ops as ops_lib

_SERIAL_PACKAGE = "tenas_tf"


def _check_bool(name, value):
  if not isinstance(value, bool):
    raise ValueError(f"{name} must be a bool; got {value!r}")
  return value


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class MixedEdge(keras.layers.Layer):
  """One supernet edge: the mean of its alive ops; zero when none is alive.

  A dead op is skipped (`skip_dead_ops=True`) or masked: fed zeros and its output multiplied by
  zero (see the module docstring). Either way it is exactly absent. Ops left out of `built_ops`
  are not built at all: a network built with `built_ops` equal to its mask is the physically
  pruned network the masked supernet must match.

  Args:
    channels: channels in and out.
    ops: op names of the space, in mask-column order.
    built_ops: names of the ops to build (default: all of `ops`).
    init: initialisation scheme.
    skip_dead_ops: run each op under a `tf.cond` on its alive bit (True) instead of masking it
      (False, the default: layer outputs stay visible to per-layer recording such as
      `num_linear_regions`).

  Call args:
    inputs: [B, H, W, channels].
    alive: [len(ops)] float tensor of 0/1 alive bits (0 for every op not built).
  """

  def __init__(self, channels, ops=ops_lib.NB201_OPS, built_ops=None, init="pytorch_default",
               skip_dead_ops=False, **kwargs):
    super().__init__(**kwargs)
    self.channels = channels
    self.ops = tuple(ops)
    self.built_ops = self.ops if built_ops is None else tuple(built_ops)
    for op in self.built_ops:
      ops_lib.check_op(op, self.ops)
    self.init = init_lib.check_init_scheme(init)
    self.skip_dead_ops = _check_bool("skip_dead_ops", skip_dead_ops)
    self.op_layers = [ops_lib.nb201_op(op, channels, init, name=op) for op in self.built_ops]
    self._columns = [self.ops.index(op) for op in self.built_ops]

  def build(self, input_shape):
    for layer in self.op_layers:
      layer.build(input_shape)

  def _skipped_op(self, layer, bit, inputs, training):
    # The dead branch is `0 * inputs`, not a constant: its gradient then stays a product with the
    # cotangent, where a constant zero gradient would be tiled per sample by pfor and folded into
    # huge graph constants (tens of seconds at the first call).
    return tf.cond(bit > 0.0, lambda: layer(inputs, training=training), lambda: 0.0 * inputs)

  def call(self, inputs, alive, training=None):
    if self.skip_dead_ops:
      outputs = [self._skipped_op(layer, alive[column], inputs, training)
                 for column, layer in zip(self._columns, self.op_layers)]
    else:
      outputs = [alive[column] * layer(alive[column] * inputs, training=training)
                 for column, layer in zip(self._columns, self.op_layers)]
    if not outputs:
      return tf.zeros_like(inputs)
    total = outputs[0] if len(outputs) == 1 else tf.add_n(outputs)
    return total / tf.maximum(tf.reduce_sum(alive), 1.0)

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels, ops=list(self.ops), built_ops=list(self.built_ops),
                  init=self.init, skip_dead_ops=self.skip_dead_ops)
    return config


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class NB201SearchCell(keras.layers.Layer):
  """NB201 cell of mixed edges: node i = sum_{j<i} edge(j->i)(node j); output node 3.

  Args:
    channels: channels of every node.
    ops: op names, in mask-column order.
    built_ops: per edge, the op names to build (default: all).
    init: initialisation scheme.
    skip_dead_ops: see `MixedEdge`.

  Call args:
    inputs: [B, H, W, channels].
    alive: [6, len(ops)] alive bits, edges in `nb201.EDGES` order.
  """

  def __init__(self, channels, ops=ops_lib.NB201_OPS, built_ops=None, init="pytorch_default",
               skip_dead_ops=False, **kwargs):
    super().__init__(**kwargs)
    self.channels = channels
    self.ops = tuple(ops)
    if built_ops is None:
      built_ops = [self.ops] * nb201.NUM_EDGES
    if len(built_ops) != nb201.NUM_EDGES:
      raise ValueError(f"built_ops must list the ops of {nb201.NUM_EDGES} edges; got {built_ops!r}")
    self.built_ops = [list(edge_ops) for edge_ops in built_ops]
    self.init = init_lib.check_init_scheme(init)
    self.skip_dead_ops = _check_bool("skip_dead_ops", skip_dead_ops)
    self.edges = [MixedEdge(channels, self.ops, edge_ops, init, skip_dead_ops,
                            name=f"edge_{j}_to_{i}")
                  for (i, j), edge_ops in zip(nb201.EDGES, self.built_ops)]

  def build(self, input_shape):
    for edge in self.edges:
      edge.build(input_shape)

  def call(self, inputs, alive, training=None):
    nodes = [inputs]
    for target in range(1, nb201.NUM_NODES):
      incoming = [self.edges[index](nodes[j], alive[index], training=training)
                  for index, (i, j) in enumerate(nb201.EDGES) if i == target]
      nodes.append(incoming[0] if len(incoming) == 1 else tf.add_n(incoming))
    return nodes[-1]

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels, ops=list(self.ops), built_ops=self.built_ops,
                  init=self.init, skip_dead_ops=self.skip_dead_ops)
    return config


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class NB201SearchNetwork(keras.Model):
  """The NB201 macro skeleton around search cells, with the alive mask as a variable.

  stem conv3x3+BN -> N cells(C) -> ResNetBlock(2C) -> N cells(2C) -> ResNetBlock(4C) -> N cells(4C)
  -> BN -> ReLU -> global average pool -> dense(num_classes). `max_layers` keeps only the first
  layers of that cell/block list (the linear-region net keeps one cell) and `use_stem=False` feeds
  the input straight to the first cell.

  Args:
    channels: C, the first stage's width (3 for the NTK net, 1 for the linear-region net).
    cells_per_stage: N.
    num_classes: logits.
    use_stem: whether a stem conv maps the 3 input channels to C.
    max_layers: keep only this many cells/blocks (None: all).
    ops: op names, in mask-column order.
    built_ops: per edge, the op names to build in every cell (default: all). With the ops of a
      mask, this is that mask's physically pruned network.
    init: initialisation scheme, `tenas_tf.spaces.init.INIT_SCHEMES`.
    skip_dead_ops: skip dead ops under `tf.cond` (True; fastest NTK) or mask them (False, the
      default; needed by `num_linear_regions`). See the module docstring.

  Example:
    >>> net = ntk_network(num_classes=10)
    >>> net.set_alive(nb201.initial_mask())
    >>> logits = net(images, training=True)
  """

  def __init__(self, channels, cells_per_stage, num_classes, use_stem=True, max_layers=None,
               ops=ops_lib.NB201_OPS, built_ops=None, init="pytorch_default", skip_dead_ops=False,
               **kwargs):
    super().__init__(**kwargs)
    for name, value in (("channels", channels), ("cells_per_stage", cells_per_stage),
                        ("num_classes", num_classes)):
      ops_lib._check_positive_int(name, value)  # pylint: disable=protected-access
    self.channels = channels
    self.cells_per_stage = cells_per_stage
    self.num_classes = num_classes
    self.use_stem = use_stem
    self.max_layers = max_layers
    self.ops = tuple(ops)
    self.built_ops = built_ops
    self.init = init_lib.check_init_scheme(init)
    self.skip_dead_ops = _check_bool("skip_dead_ops", skip_dead_ops)
    if use_stem:
      # 'same' at stride 1 is PyTorch's symmetric padding 1 for a 3x3 kernel.
      self.stem_conv = ops_lib.conv2d(channels, 3, 1, init, padding="same", name="stem_conv")
      self.stem_bn = ops_lib.batch_norm(name="stem_bn")
    plan = []  # (kind, width) per layer; only the first `max_layers` are built.
    for stage in range(3):
      width = channels * 2**stage
      if stage:
        plan.append(("reduce", width, stage))
      plan.extend(("cell", width, f"{stage}_{cell}") for cell in range(cells_per_stage))
    if max_layers is not None:
      ops_lib._check_positive_int("max_layers", max_layers)  # pylint: disable=protected-access
      plan = plan[:max_layers]
    self.body = [
        NB201SearchCell(width, self.ops, built_ops, init, skip_dead_ops, name=f"cell_{tag}")
        if kind == "cell"
        else ops_lib.ResNetBlock(width, init, name=f"reduce_{tag}")
        for kind, width, tag in plan]
    self.head_bn = ops_lib.batch_norm(name="head_bn")
    self.head_relu = ops_lib.ReLU(name="head_relu")
    self.pool = keras.layers.GlobalAveragePooling2D(name="pool")
    # The bias never reaches an indicator (the NTK set excludes it; it follows the last ReLU),
    # so it starts at zero; `init_lib.initialize` draws it as PyTorch would.
    self.classifier = keras.layers.Dense(
        num_classes, kernel_initializer=init_lib.kernel_initializer(init), name="classifier")
    edge_ops = built_ops if built_ops is not None else [self.ops] * nb201.NUM_EDGES
    self.buildable_mask = np.array(
        [[[op in ops_of_edge for op in self.ops] for ops_of_edge in edge_ops]])
    # Every built op starts alive; a search assigns its own mask with `set_alive`.
    self.alive = self.add_weight(
        shape=self.buildable_mask.shape, trainable=False, name="alive",
        initializer=keras.initializers.Constant(self.buildable_mask.astype("float32")))

  def set_alive(self, mask):
    """Sets the alive-op mask ([1, 6, len(ops)] bools); no retracing, weights unchanged."""
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != self.buildable_mask.shape:
      raise ValueError(f"alive mask must have shape {self.buildable_mask.shape}; got {mask.shape}")
    if np.any(mask & ~self.buildable_mask):
      raise ValueError("alive mask marks ops alive that this network did not build: "
                       f"{np.argwhere(mask & ~self.buildable_mask).tolist()} (cell, edge, op)")
    self.alive.assign(mask.astype("float32"))

  def call(self, inputs, training=None):
    x = inputs
    if self.use_stem:
      x = self.stem_bn(self.stem_conv(x), training=training)
    alive = self.alive[0]
    for layer in self.body:
      if isinstance(layer, NB201SearchCell):
        x = layer(x, alive, training=training)
      else:
        x = layer(x, training=training)
    x = self.head_relu(self.head_bn(x, training=training))
    return self.classifier(self.pool(x))

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels, cells_per_stage=self.cells_per_stage,
                  num_classes=self.num_classes, use_stem=self.use_stem,
                  max_layers=self.max_layers, ops=list(self.ops), built_ops=self.built_ops,
                  init=self.init, skip_dead_ops=self.skip_dead_ops)
    return config


def built_ops_of(mask):
  """Per edge, the names of the alive ops of a [1, 6, len(ops)] mask (for `built_ops`)."""
  mask = np.asarray(mask, dtype=bool).reshape(nb201.NUM_EDGES, -1)
  return [[op for op, alive in zip(ops_lib.NB201_OPS, row) if alive] for row in mask]


def ntk_network(num_classes, input_shape=(32, 32, 3), init="pytorch_default", seed=0,
                built_ops=None):
  """The NB201 NTK net: C=3, N=1, stem, 3 cells and 2 ResNet blocks; built and initialised.

  Dead ops are skipped (`skip_dead_ops=True`): the NTK differentiates only the live ones.
  """
  net = NB201SearchNetwork(3, 1, num_classes, built_ops=built_ops, init=init,
                           skip_dead_ops=True, name="nb201_ntk_net")
  net(tf.zeros((2,) + tuple(input_shape)))  # creates the weights
  init_lib.initialize(net, seed, init)
  return net


def linear_region_network(num_classes, init="pytorch_default", seed=0, built_ops=None):
  """The NB201 'thin' net: C=1, one cell, no stem, fed [B, 3, 3, 1] samples; built, initialised.

  Dead ops are masked, not skipped, so that `num_linear_regions` sees every ReLU layer's output.
  """
  net = NB201SearchNetwork(1, 1, num_classes, use_stem=False, max_layers=1,
                           built_ops=built_ops, init=init, name="nb201_lr_net")
  net(tf.zeros((2, 3, 3, 1)))  # creates the weights
  init_lib.initialize(net, seed, init)
  return net
