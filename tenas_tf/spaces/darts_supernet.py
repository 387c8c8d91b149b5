"""The DARTS supernet as Keras layers, driven by an alive-op mask held in a variable.

As for NB201 (`nb201_supernet`), one Keras model serves every candidate of a search: the mask
is a [2, 14, 8] variable (cell types normal / reduce, edges, `DARTS_OPS`), and each edge is a
`supernet.MixedEdge` over the DARTS ops at the edge's stride, where a dead op is exactly absent:
skipped under a `tf.cond` (the NTK net) or masked (the linear-region net); see `supernet`.
Networks built with `built_ops` hold only the listed ops: the physically pruned network the masked
supernet must match.
Reference: TENAS_SPEC.md sections 1-2; TENAS_DETAILS.md sections 2.5-2.6.
"""

import numpy as np
import tensorflow as tf
import keras

from tenas_tf.spaces import darts
from tenas_tf.spaces import darts_ops
from tenas_tf.spaces import init as init_lib
from tenas_tf.spaces import ops as ops_lib
from tenas_tf.spaces import supernet

_SERIAL_PACKAGE = "tenas_tf"
MULTIPLIER = darts.NUM_NODES  # the cell output concatenates its 4 nodes
CELL_KINDS = darts.CELL_TYPES


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class DartsMixedEdge(supernet.MixedEdge):
  """One DARTS supernet edge: a `supernet.MixedEdge` whose ops default to `DARTS_OPS`.

  It adds only that default; a class of its own so that DARTS cells serialise their edges under
  the DARTS name.

  Args:
    channels: channels in and out.
    strides: 1, or 2 on a reduction cell's edges from the cell inputs.
    ops: op names of the space, in mask-column order.
    **kwargs: `built_ops`, `init`, `skip_dead_ops` and the layer's, as for `MixedEdge`.

  Example:
    >>> DartsMixedEdge(4, 2)(tf.zeros([2, 8, 8, 4]), tf.ones([8])).shape
    TensorShape([2, 4, 4, 4])
  """

  def __init__(self, channels, strides=1, ops=darts_ops.DARTS_OPS, **kwargs):
    super().__init__(channels, strides, ops, **kwargs)


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class DartsSearchCell(keras.layers.Layer):
  """DARTS search cell: 2 preprocessed inputs, 4 nodes of mixed edges, nodes concatenated.

  preprocess0 = ReLU-conv1x1-BN (or `FactorizedReduce` when the previous cell reduced),
  preprocess1 = ReLU-conv1x1-BN, both to `channels`; node k = sum over its input states j < k + 2
  of edge "k<-j"; output = concat(nodes) with 4 * `channels` channels. In a reduction cell the
  edges from the two cell inputs have stride 2.

  Args:
    channels: C, the width of every node.
    reduction: whether this cell halves the spatial size.
    reduction_prev: whether the previous cell did (its first input is then twice as large).
    ops: op names, in mask-column order.
    built_ops: per edge (in `darts.EDGES` order), the op names to build (default: all).
    init: initialisation scheme.
    skip_dead_ops: see `DartsMixedEdge`.

  Call args:
    inputs: [s0, s1], the outputs of the cells two back and one back.
    alive: [14, len(ops)] alive bits of this cell type.

  Reference: Liu et al., DARTS (ICLR 2019) section 2.1; TENAS_DETAILS.md section 2.5.
  """

  def __init__(self, channels, reduction=False, reduction_prev=False, ops=darts_ops.DARTS_OPS,
               built_ops=None, init="pytorch_default", skip_dead_ops=False, **kwargs):
    super().__init__(**kwargs)
    ops_lib._check_positive_int("channels", channels)  # pylint: disable=protected-access
    self.channels = channels
    self.reduction = supernet.check_bool("reduction", reduction)
    self.reduction_prev = supernet.check_bool("reduction_prev", reduction_prev)
    self.ops = tuple(ops)
    if built_ops is None:
      built_ops = [self.ops] * darts.NUM_EDGES
    if len(built_ops) != darts.NUM_EDGES:
      raise ValueError(f"built_ops must list the ops of {darts.NUM_EDGES} edges; "
                       f"got {len(built_ops)}: {built_ops!r}")
    self.built_ops = [list(edge_ops) for edge_ops in built_ops]
    self.init = init_lib.check_init_scheme(init)
    self.skip_dead_ops = supernet.check_bool("skip_dead_ops", skip_dead_ops)
    self.preprocess0 = (darts_ops.FactorizedReduce(channels, init, name="preprocess0")
                        if reduction_prev else
                        ops_lib.ReLUConvBN(channels, 1, 1, init, name="preprocess0"))
    self.preprocess1 = ops_lib.ReLUConvBN(channels, 1, 1, init, name="preprocess1")
    self.edges = [
        DartsMixedEdge(channels, 2 if reduction and state < 2 else 1, self.ops,
                       built_ops=edge_ops, init=init, skip_dead_ops=skip_dead_ops,
                       name=f"edge_{state}_to_{node + 2}")
        for (node, state), edge_ops in zip(darts.EDGES, self.built_ops)]

  def build(self, input_shape):
    s0_shape, s1_shape = input_shape
    self.preprocess0.build(s0_shape)
    self.preprocess1.build(s1_shape)
    states = [self.preprocess0.compute_output_shape(s0_shape),
              self.preprocess1.compute_output_shape(s1_shape)]
    for start, end in darts.NODE_EDGES:
      for index in range(start, end):
        self.edges[index].build(states[darts.EDGES[index][1]])
      # Every input edge of a node gives its shape; the one from state 0 has the cell's stride.
      states.append(self.edges[start].compute_output_shape(states[0]))

  def call(self, inputs, alive, training=None):
    s0, s1 = inputs
    states = [self.preprocess0(s0, training=training), self.preprocess1(s1, training=training)]
    for start, end in darts.NODE_EDGES:
      states.append(tf.add_n([
          self.edges[index](states[darts.EDGES[index][1]], alive[index], training=training)
          for index in range(start, end)]))
    return tf.concat(states[2:], axis=-1)

  def compute_output_shape(self, input_shape):
    s1_shape = self.preprocess1.compute_output_shape(input_shape[1])
    reduced = self.edges[0].compute_output_shape(s1_shape)
    return tuple(reduced[:3]) + (MULTIPLIER * self.channels,)

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels, reduction=self.reduction,
                  reduction_prev=self.reduction_prev, ops=list(self.ops),
                  built_ops=self.built_ops, init=self.init, skip_dead_ops=self.skip_dead_ops)
    return config


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class DartsSearchNetwork(supernet.SearchNetwork):
  """A DARTS network of search cells, with the [2, 14, 8] alive mask as a variable.

  [stem conv3x3 (3 -> stem_multiplier * C) + BN] -> cells -> BN -> ReLU -> global average pool ->
  dense(num_classes). Cell i gets the outputs of cells i - 2 and i - 1 (the stem's output, or the
  input when there is no stem, stands in for both before the first cell); a reduction cell doubles
  C. Every normal cell uses the mask's "normal" row, every reduction cell the "reduce" row. Stem,
  head and mask: `supernet.SearchNetwork`.

  Args:
    channels: C, the first cell's node width (1 for both TE-NAS indicator nets).
    num_classes: logits.
    cells: kinds of the stacked cells, each "normal" or "reduce" (TE-NAS: normal, reduce).
    use_stem: whether a stem conv maps the 3 input channels to stem_multiplier * C.
    stem_multiplier: the stem's width in units of C.
    ops: op names, in mask-column order.
    built_ops: per cell type (normal, reduce), per edge, the op names to build (default: all).
      With `built_ops_of(mask)`, this is that mask's physically pruned network.
    init: initialisation scheme, `tenas_tf.spaces.init.INIT_SCHEMES`.
    skip_dead_ops: skip dead ops under `tf.cond` (True; the NTK net) or mask them (False, the
      default; needed by `num_linear_regions`).

  Example:
    >>> net = ntk_network(num_classes=10)
    >>> net.set_alive(darts.TENAS_CIFAR10.alive_mask())
    >>> logits = net(images, training=True)
  """

  def __init__(self, channels, num_classes, cells=CELL_KINDS, use_stem=True, stem_multiplier=1,
               ops=darts_ops.DARTS_OPS, built_ops=None, init="pytorch_default",
               skip_dead_ops=False, **kwargs):
    super().__init__(num_classes, use_stem, ops, init, skip_dead_ops, **kwargs)
    for name, value in (("channels", channels), ("stem_multiplier", stem_multiplier)):
      ops_lib._check_positive_int(name, value)  # pylint: disable=protected-access
    if isinstance(cells, str) or not cells or any(kind not in CELL_KINDS for kind in cells):
      raise ValueError(f"cells must be a non-empty sequence of {CELL_KINDS}; got {cells!r}")
    self.channels = channels
    self.cells = tuple(cells)
    self.stem_multiplier = stem_multiplier
    if built_ops is None:
      built_ops = [[self.ops] * darts.NUM_EDGES] * len(darts.CELL_TYPES)
    if len(built_ops) != len(darts.CELL_TYPES):
      raise ValueError(f"built_ops must hold one list of edges per cell type "
                       f"{darts.CELL_TYPES}; got {len(built_ops)} lists")
    self.built_ops = [[list(edge_ops) for edge_ops in cell_ops] for cell_ops in built_ops]
    self._add_stem(stem_multiplier * channels)
    self.cell_layers = []
    width, reduction_prev = channels, False
    for index, kind in enumerate(self.cells):
      reduction = kind == "reduce"
      width *= 2 if reduction else 1
      self.cell_layers.append(DartsSearchCell(
          width, reduction, reduction_prev, self.ops,
          self.built_ops[darts.CELL_TYPES.index(kind)], init, skip_dead_ops,
          name=f"cell_{index}_{kind}"))
      reduction_prev = reduction
    self._add_head(self.built_ops)

  def call(self, inputs, training=None):
    s0 = s1 = self._stem(inputs, training)
    for kind, cell in zip(self.cells, self.cell_layers):
      s0, s1 = s1, cell([s0, s1], self.alive[darts.CELL_TYPES.index(kind)], training=training)
    return self._head(s1, training)

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels, cells=list(self.cells),
                  stem_multiplier=self.stem_multiplier, built_ops=self.built_ops)
    return config


def built_ops_of(mask):
  """Per cell type, per edge, the names of the alive ops of a [2, 14, 8] mask (`built_ops`)."""
  mask = np.asarray(mask, dtype=bool).reshape(len(darts.CELL_TYPES), darts.NUM_EDGES, -1)
  return [[[op for op, alive in zip(darts_ops.DARTS_OPS, row) if alive] for row in cell]
          for cell in mask]


def ntk_network(num_classes, input_shape=(32, 32, 3), init="pytorch_default", seed=0,
                built_ops=None):
  """The DARTS NTK net: C=1, stem, a normal then a reduction cell; built and initialised.

  With all ops built and 10 classes: 5,431 trainable parameters, 5,138 of them in the NTK set
  (the reference's 5,655 include its 224 architecture alphas). Dead ops are skipped.
  """
  net = DartsSearchNetwork(1, num_classes, built_ops=built_ops, init=init, skip_dead_ops=True,
                           name="darts_ntk_net")
  net(tf.zeros((2,) + tuple(input_shape)))  # creates the weights
  init_lib.initialize(net, seed, init)
  return net


def linear_region_network(num_classes, init="pytorch_default", seed=0, built_ops=None):
  """The DARTS 'thin' net: the NTK net's two cells without stem, fed [B, 3, 3, 1] samples.

  The sample is both inputs of the normal cell (3x3, 4 channels out); the reduction cell works
  at 2x2. Dead ops are masked, not skipped, so that `num_linear_regions` sees every ReLU.
  """
  net = DartsSearchNetwork(1, num_classes, use_stem=False, built_ops=built_ops, init=init,
                           name="darts_lr_net")
  net(tf.zeros((2, 3, 3, 1)))  # creates the weights
  init_lib.initialize(net, seed, init)
  return net
