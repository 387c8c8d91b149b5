"""The NB201 search networks, driven by an alive-op mask held in a variable.

The mask is a [1, 6, 5] variable (one cell type, `nb201.EDGES`, `NB201_OPS`) shared by every
cell; the cells are `NB201Cell`s with several ops per edge, where a dead op is skipped or masked
(see `tenas_tf.spaces.edge`). The tests check both against networks where dead ops are
physically missing.
Reference: TE-NAS (Chen et al., ICLR 2021) section 3 (its NB201 indicator networks: the NTK on
the C=3, N=1 network, linear regions on a one-cell network of width 1).
"""

import tensorflow as tf
import keras

from tenas_tf import checks
from tenas_tf.spaces import batched_backward
from tenas_tf.spaces import cell as cell_lib
from tenas_tf.spaces import init as init_lib
from tenas_tf.spaces import nb201
from tenas_tf.spaces import ops as ops_lib
from tenas_tf.spaces import supernet

_SERIAL_PACKAGE = "tenas_tf"


def body_plan(channels, cells_per_stage):
  """NB201's macro skeleton as (kind, width, tag) per layer: "cell" or "reduce" (ResNetBlock).

  N cells(C) -> reduce(2C) -> N cells(2C) -> reduce(4C) -> N cells(4C); layers are named
  `cell_{tag}` and `reduce_{tag}` in both NB201 networks.
  """
  plan = []
  for stage in range(3):
    width = channels * 2**stage
    if stage:
      plan.append(("reduce", width, stage))
    plan.extend(("cell", width, f"{stage}_{cell}") for cell in range(cells_per_stage))
  return plan


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class NB201SearchNetwork(supernet.SearchNetwork):
  """The NB201 macro skeleton around search cells, with the [1, 6, 5] alive mask as a variable.

  stem conv3x3+BN -> N cells(C) -> ResNetBlock(2C) -> N cells(2C) -> ResNetBlock(4C) -> N cells(4C)
  -> BN -> ReLU -> global average pool -> dense(num_classes) (`body_plan`). `max_layers` keeps only
  the first layers of that cell/block list (the linear-region net keeps one cell) and
  `use_stem=False` feeds the input straight to the first cell. Stem, head and mask:
  `supernet.SearchNetwork`.

  Args:
    channels: C, the first stage's width (3 for the NTK net, 1 for the linear-region net).
    cells_per_stage: N.
    num_classes: logits.
    use_stem: whether a stem conv maps the 3 input channels to C.
    max_layers: keep only this many cells/blocks (None: all).
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

  # Without the rest of Grappler too, the warm kappa was slower (1.17 s against 0.92 s, batch 72,
  # 2 cores): keep it.
  JACOBIAN_OPTIMIZER_OPTIONS = batched_backward.WITHOUT_ARITHMETIC_OPTIMIZER

  def __init__(self, channels, cells_per_stage, num_classes, use_stem=True, max_layers=None,
               built_ops=None, init="pytorch_default", skip_dead_ops=False, **kwargs):
    super().__init__(num_classes, use_stem, "nb201", init, skip_dead_ops, **kwargs)
    self.channels = checks.integer("channels", channels, 1)
    self.cells_per_stage = checks.integer("cells_per_stage", cells_per_stage, 1)
    self.max_layers = checks.optional_integer("max_layers", max_layers, 1)
    self.built_ops = built_ops
    self._add_stem(channels)
    plan = body_plan(channels, cells_per_stage)[:max_layers]
    self.body = [
        cell_lib.NB201Cell(width, built_ops, init, skip_dead_ops, name=f"cell_{tag}")
        if kind == "cell"
        else ops_lib.ResNetBlock(width, init, name=f"reduce_{tag}")
        for kind, width, tag in plan]
    self._add_head([built_ops if built_ops is not None else [self.ops] * nb201.NUM_EDGES])

  def call(self, inputs, training=None):
    x = self._stem(inputs, training)
    alive = self.alive[0]
    for layer in self.body:
      if isinstance(layer, cell_lib.NB201Cell):
        x = layer(x, alive, training=training)
      else:
        x = layer(x, training=training)
    return self._head(x, training)

  def jacobian_forward(self, images, rows):
    """`call` in training mode for `batched_backward`: (logits, backward). It runs every op of
    the cells, weighted by the alive mask read here (eagerly, or inside the traced Jacobian)."""
    alive = self.alive[0]
    x, stem_backward = self._jacobian_stem(images, rows)
    backwards = [stem_backward]
    for layer in self.body:
      if isinstance(layer, cell_lib.NB201Cell):
        x, backward = layer.jacobian_forward(x, rows, alive)
      else:
        x, backward = batched_backward.forward(layer, x, rows)
      backwards.append(backward)
    logits, head_backward = self._jacobian_head(x, rows)
    return logits, batched_backward.chain(head_backward, *reversed(backwards))

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels, cells_per_stage=self.cells_per_stage,
                  max_layers=self.max_layers, built_ops=self.built_ops)
    return config


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
