"""The DARTS search networks, driven by an alive-op mask held in a variable.

As for NB201 (`nb201_supernet`), one Keras model serves every candidate of a search: the mask
is a [2, 14, 8] variable (cell types normal / reduce, edges, `DARTS_OPS`), and the cells are
`DartsCell`s with several ops per edge at the edge's stride, where a dead op is exactly absent:
skipped under a `tf.cond` (the NTK net) or masked (the linear-region net); see
`tenas_tf.spaces.edge`. Networks built with `built_ops` hold only the listed ops: the physically
pruned network the masked supernet must match.
Reference: TE-NAS (Chen et al., ICLR 2021) section 3 and its DARTS-space search (the indicator
networks: C=1, a normal and a reduction cell).
"""

import tensorflow as tf
import keras

from tenas_tf import checks
from tenas_tf.spaces import batched_backward
from tenas_tf.spaces import cell as cell_lib
from tenas_tf.spaces import darts
from tenas_tf.spaces import init as init_lib
from tenas_tf.spaces import supernet

_SERIAL_PACKAGE = "tenas_tf"
CELL_KINDS = darts.CELL_TYPES


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
    built_ops: per cell type (normal, reduce), per edge, the op names to build (default: all).
      With `darts.built_ops_of(mask)`, this is that mask's physically pruned network.
    init: initialisation scheme, `tenas_tf.spaces.init.INIT_SCHEMES`.
    skip_dead_ops: skip dead ops under `tf.cond` (True; the NTK net) or mask them (False, the
      default; needed by `num_linear_regions`).

  Example:
    >>> net = ntk_network(num_classes=10)
    >>> net.set_alive(darts.TENAS_CIFAR10.alive_mask())
    >>> logits = net(images, training=True)
  """

  # Grappler spent 8-11 s of the traced Jacobian's first call (13.5-18 s against 5.4-7.5 s
  # without it) for warm calls no faster (0.32-0.53 s against 0.32-0.38 s), on 2 cores.
  JACOBIAN_OPTIMIZER_OPTIONS = batched_backward.WITHOUT_GRAPPLER

  def __init__(self, channels, num_classes, cells=CELL_KINDS, use_stem=True, stem_multiplier=1,
               built_ops=None, init="pytorch_default", skip_dead_ops=False, **kwargs):
    super().__init__(num_classes, use_stem, "darts", init, skip_dead_ops, **kwargs)
    self.channels = checks.integer("channels", channels, 1)
    self.stem_multiplier = checks.integer("stem_multiplier", stem_multiplier, 1)
    if isinstance(cells, str) or not cells or any(kind not in CELL_KINDS for kind in cells):
      raise ValueError(f"cells must be a non-empty sequence of {CELL_KINDS}; got {cells!r}")
    self.cells = tuple(cells)
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
      self.cell_layers.append(cell_lib.DartsCell(
          width, reduction, reduction_prev, self.built_ops[darts.CELL_TYPES.index(kind)], init,
          skip_dead_ops, name=f"cell_{index}_{kind}"))
      reduction_prev = reduction
    self._add_head(self.built_ops)

  def call(self, inputs, training=None):
    s0 = s1 = self._stem(inputs, training)
    for kind, cell in zip(self.cells, self.cell_layers):
      s0, s1 = s1, cell([s0, s1], self.alive[darts.CELL_TYPES.index(kind)], training=training)
    return self._head(s1, training)

  def jacobian_forward(self, images, rows):
    """`call` in training mode for `batched_backward`: (logits, backward). It runs every built
    op, times its bit of the alive mask read here (eagerly, or inside the traced Jacobian)."""
    alive = self.alive
    stem, stem_backward = self._jacobian_stem(images, rows)
    states = [stem]  # the stem's output, then each cell's
    cell_backwards = []
    for index, (kind, cell) in enumerate(zip(self.cells, self.cell_layers)):
      sources = (max(index - 1, 0), index)  # s0, s1: two cells back and one back
      outputs, backward = cell.jacobian_forward([states[i] for i in sources], rows,
                                                alive[darts.CELL_TYPES.index(kind)])
      states.append(outputs)
      cell_backwards.append((sources, backward))
    logits, head_backward = self._jacobian_head(states[-1], rows)

    def backward(cotangents):
      per_state = [None] * (len(states) - 1) + [head_backward(cotangents)]
      for index in reversed(range(len(cell_backwards))):
        sources, cell_backward = cell_backwards[index]
        for source, flowing in zip(sources, cell_backward(per_state[index + 1])):
          per_state[source] = batched_backward.summed(per_state[source], flowing)
      return stem_backward(per_state[0])
    return logits, backward

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels, cells=list(self.cells),
                  stem_multiplier=self.stem_multiplier, built_ops=self.built_ops)
    return config


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
