"""The NB201 supernet as Keras layers, driven by an alive-op mask held in a variable.

The mask is a [1, 6, 5] variable (one cell type, `nb201.EDGES`, `NB201_OPS`) shared by every
cell; each edge is a `supernet.MixedEdge` over the NB201 ops, where a dead op is skipped or
masked (see `supernet`). The tests check both against networks where dead ops are physically
missing. Reference: TENAS_SPEC.md sections 1-2.
"""

import numpy as np
import tensorflow as tf
import keras

from tenas_tf.spaces import init as init_lib
from tenas_tf.spaces import nb201
from tenas_tf.spaces import ops as ops_lib
from tenas_tf.spaces import supernet

_SERIAL_PACKAGE = "tenas_tf"


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
    self.skip_dead_ops = supernet.check_bool("skip_dead_ops", skip_dead_ops)
    self.edges = [supernet.MixedEdge(channels, 1, self.ops, edge_ops, init, skip_dead_ops,
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
class NB201SearchNetwork(supernet.SearchNetwork):
  """The NB201 macro skeleton around search cells, with the [1, 6, 5] alive mask as a variable.

  stem conv3x3+BN -> N cells(C) -> ResNetBlock(2C) -> N cells(2C) -> ResNetBlock(4C) -> N cells(4C)
  -> BN -> ReLU -> global average pool -> dense(num_classes). `max_layers` keeps only the first
  layers of that cell/block list (the linear-region net keeps one cell) and `use_stem=False` feeds
  the input straight to the first cell. Stem, head and mask: `supernet.SearchNetwork`.

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
      default; needed by `num_linear_regions`). See `supernet`.

  Example:
    >>> net = ntk_network(num_classes=10)
    >>> net.set_alive(nb201.initial_mask())
    >>> logits = net(images, training=True)
  """

  def __init__(self, channels, cells_per_stage, num_classes, use_stem=True, max_layers=None,
               ops=ops_lib.NB201_OPS, built_ops=None, init="pytorch_default", skip_dead_ops=False,
               **kwargs):
    super().__init__(num_classes, use_stem, ops, init, skip_dead_ops, **kwargs)
    for name, value in (("channels", channels), ("cells_per_stage", cells_per_stage)):
      ops_lib._check_positive_int(name, value)  # pylint: disable=protected-access
    self.channels = channels
    self.cells_per_stage = cells_per_stage
    self.max_layers = max_layers
    self.built_ops = built_ops
    self._add_stem(channels)
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
    self._add_head([built_ops if built_ops is not None else [self.ops] * nb201.NUM_EDGES])

  def call(self, inputs, training=None):
    x = self._stem(inputs, training)
    alive = self.alive[0]
    for layer in self.body:
      if isinstance(layer, NB201SearchCell):
        x = layer(x, alive, training=training)
      else:
        x = layer(x, training=training)
    return self._head(x, training)

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels, cells_per_stage=self.cells_per_stage,
                  max_layers=self.max_layers, built_ops=self.built_ops)
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
