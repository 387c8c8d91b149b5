"""The discrete DARTS networks of one genotype, for retraining a found cell (DARTS' evaluation).

Where the supernet (`darts_supernet`) holds every op of every edge behind an alive mask, a
`DartsCell` holds exactly the genotype's 8 ops: node k sums the ops of pairs 2k and 2k+1 on their
input states, and the cell outputs the concatenation of its 4 nodes. `DartsNetwork` stacks them
in DARTS' evaluation skeleton (`darts_heads` has the stems and the auxiliary head):

  stem -> num_cells cells (reduction cells at num_cells // 3 and 2 * num_cells // 3, where the
  node width doubles) -> global average pool -> dense(num_classes)

with C=36, 20 cells for CIFAR and C=48, 14 cells for ImageNet (TENAS_SPEC.md section 7). Cell i
takes the outputs of cells i - 2 and i - 1. Drop-path (per sample, training only) acts on every op
output that is not an identity `skip_connect`, as DARTS' evaluation code does (a stride-2
`skip_connect` is a FactorizedReduce and is dropped too).
"""

import threading

import keras
from keras import ops as kops
import tensorflow as tf

from tenas_tf.spaces import darts
from tenas_tf.spaces import darts_heads
from tenas_tf.spaces import darts_ops
from tenas_tf.spaces import init as init_lib
from tenas_tf.spaces import nb201_network
from tenas_tf.spaces import ops as ops_lib
from tenas_tf.spaces import supernet

_SERIAL_PACKAGE = "tenas_tf"
# DARTS' evaluation sizes per variant: (C, number of cells).
DEFAULT_SIZES = {"cifar": (36, 20), "imagenet": (48, 14)}
# Seeds of the drop-path draws: cell i of a network seeded s draws from s * _CELL_SEEDS + i, its
# op at pair position p from (cell seed) * 8 + p; distinct for up to _CELL_SEEDS cells.
_CELL_SEEDS = 1024
_check_bool = supernet.check_bool
# pylint: disable=protected-access
_check_rate = nb201_network._check_rate
_check_seed = nb201_network._check_seed
# pylint: enable=protected-access


def reduction_indices(num_cells):
  """The positions of the reduction cells among `num_cells` cells: num_cells // 3, 2 * num_cells
  // 3 (one position when they coincide, for fewer than 3 cells)."""
  return tuple(sorted({num_cells // 3, 2 * num_cells // 3}))


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class DartsCell(keras.layers.Layer):
  """One DARTS cell with the genotype's ops: 2 preprocessed inputs, 4 nodes, concatenated.

  preprocess0 = ReLU-conv1x1-BN (FactorizedReduce when the previous cell reduced, so that both
  inputs have the same size), preprocess1 = ReLU-conv1x1-BN, both to `channels`; node k = op(2k)
  (state j) + op(2k+1) (state j') for the genotype's pairs of this cell type; in a reduction cell
  the ops on the cell inputs (states 0, 1) have stride 2. Op layers are named
  `edge_{j}_to_{k + 2}` as in the supernet's `DartsSearchCell`.

  Args:
    channels: C, the width of every node (the output has 4C channels).
    genotype: a `DartsGenotype`, its JSON form or DARTS' text form; stored as the JSON dict.
    reduction: whether this is a reduction cell (uses the genotype's `reduce` pairs).
    reduction_prev: whether the previous cell reduced.
    init: initialisation scheme, `tenas_tf.spaces.init.INIT_SCHEMES`.
    drop_path_rate: per-sample drop probability of every op output but an identity skip, in
      training; 0 turns it off.
    seed: int seed of the drop-path draws.

  Call args:
    inputs: [s0, s1], the outputs of the cells two back and one back ([B, H, W, *]; s0 is
      [B, 2H, 2W, *] when `reduction_prev`).
    training: BatchNorm and drop-path mode.

  Returns:
    [B, H', W', 4 * channels], H' = ceil(H / 2) in a reduction cell, else H.

  Raises:
    ValueError: a malformed genotype, non-positive channels, a rate outside [0, 1), or odd
      channels where a FactorizedReduce needs them even.

  Example:
    >>> cell = DartsCell(16, TENAS_CIFAR10, reduction=True)
    >>> cell([tf.zeros([2, 32, 32, 48]), tf.zeros([2, 32, 32, 48])]).shape
    TensorShape([2, 16, 16, 64])

  Reference: Liu et al., DARTS (ICLR 2019) sections 2.1 and 3.3; TENAS_SPEC.md section 1.
  """

  def __init__(self, channels, genotype, reduction=False, reduction_prev=False,
               init="pytorch_default", drop_path_rate=0.0, seed=0, **kwargs):
    super().__init__(**kwargs)
    ops_lib._check_positive_int("channels", channels)  # pylint: disable=protected-access
    self.channels = channels
    parsed = darts.DartsGenotype.parse(genotype)
    self.genotype = parsed.to_json()
    self.reduction = _check_bool("reduction", reduction)
    self.reduction_prev = _check_bool("reduction_prev", reduction_prev)
    self.init = init_lib.check_init_scheme(init)
    self.drop_path_rate = _check_rate("drop_path_rate", drop_path_rate)
    self.seed = _check_seed(seed)
    self.preprocess0 = (darts_ops.FactorizedReduce(channels, init, name="preprocess0")
                        if reduction_prev else
                        ops_lib.ReLUConvBN(channels, 1, 1, init, name="preprocess0"))
    self.preprocess1 = ops_lib.ReLUConvBN(channels, 1, 1, init, name="preprocess1")
    # (op, input state) of pair 2k and 2k+1 feed node k.
    self._pairs = parsed.cell("reduce" if reduction else "normal")
    self.op_layers = [
        darts_ops.darts_op(op, channels, 2 if reduction and state < 2 else 1, init,
                           name=f"edge_{state}_to_{position // 2 + 2}")
        for position, (op, state) in enumerate(self._pairs)]
    # DARTS drops every op output but an identity's; `None` where nothing is dropped.
    self.drop_paths = [
        nb201_network.DropPath(self.drop_path_rate, seed * 8 + position,
                               name=f"drop_path_{layer.name}")
        if self.drop_path_rate and not isinstance(layer, ops_lib.Identity) else None
        for position, layer in enumerate(self.op_layers)]

  def build(self, input_shape):
    s0_shape, s1_shape = (tuple(shape) for shape in input_shape)
    self.preprocess0.build(s0_shape)
    self.preprocess1.build(s1_shape)
    states = [self.preprocess0.compute_output_shape(s0_shape),
              self.preprocess1.compute_output_shape(s1_shape)]
    for node in range(darts.NUM_NODES):
      for position in (2 * node, 2 * node + 1):
        layer, state = self.op_layers[position], self._pairs[position][1]
        layer.build(states[state])
        if self.drop_paths[position] is not None:
          self.drop_paths[position].build(layer.compute_output_shape(states[state]))
      first = self.op_layers[2 * node]
      states.append(first.compute_output_shape(states[self._pairs[2 * node][1]]))

  def call(self, inputs, training=None):
    s0, s1 = inputs
    states = [self.preprocess0(s0, training=training), self.preprocess1(s1, training=training)]
    for node in range(darts.NUM_NODES):
      outputs = []
      for position in (2 * node, 2 * node + 1):
        x = self.op_layers[position](states[self._pairs[position][1]], training=training)
        if self.drop_paths[position] is not None:
          x = self.drop_paths[position](x, training=training)
        outputs.append(x)
      states.append(outputs[0] + outputs[1])
    # The genotype's concat is always every node, [2, 3, 4, 5] (`DartsGenotype` checks it).
    return tf.concat(states[2:], axis=-1)

  def compute_output_shape(self, input_shape):
    s1_shape = self.preprocess1.compute_output_shape(tuple(input_shape[1]))
    first = self.op_layers[0]
    # Pair 0 feeds node 0 from a cell input: it has the cell's stride.
    reduced = first.compute_output_shape(s1_shape)
    return tuple(reduced[:3]) + (darts.NUM_NODES * self.channels,)

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels, genotype=self.genotype, reduction=self.reduction,
                  reduction_prev=self.reduction_prev, init=self.init,
                  drop_path_rate=self.drop_path_rate, seed=self.seed)
    return config


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class DartsNetwork(keras.Model):
  """DARTS' evaluation network of one genotype, CIFAR or ImageNet skeleton, auxiliary head.

  `DartsStem` -> `num_cells` `DartsCell`s (reduction cells at `reduction_indices(num_cells)`,
  node width doubled there) -> global average pool -> dense(num_classes); with
  `auxiliary_weight` > 0, an `AuxiliaryHead` on the output of cell 2 * num_cells // 3. Inputs are
  normalised images; outputs are the float32 main logits, also in training.

  How the auxiliary logits reach the loss: Keras' `fit` computes the loss from what `call`
  returns, and returning both logits would change the model's output for inference,
  `evaluate`, metrics and the exported serving signature, which all want the main logits only.
  So `call(training=True)` keeps the head's logits of the current step, and `compute_loss`
  (which `fit`'s train step calls right after `call`, inside the same traced step) adds
  `auxiliary_weight` times the compiled loss of those logits, as DARTS' `loss + w * loss_aux`.
  They are kept per thread: `MirroredStrategy` traces each replica's step in its own thread.
  The reported training loss is that sum; evaluation and inference never run the head.

  Args:
    genotype: a `DartsGenotype`, its JSON form or DARTS' text form; stored as the JSON dict.
    num_classes: number of logits.
    channels: C, the first cells' node width; None: 36 for "cifar", 48 for "imagenet".
    num_cells: number of cells; None: 20 for "cifar", 14 for "imagenet".
    variant: "cifar" (32x32 images) or "imagenet" (224x224), see `darts_heads`.
    auxiliary_weight: weight of the auxiliary head's loss in training (DARTS CIFAR: 0.4); 0
      builds no head.
    drop_path_rate: see `DartsCell` (DARTS CIFAR: 0.3); 0 turns it off.
    init: initialisation scheme, `tenas_tf.spaces.init.INIT_SCHEMES`.
    seed: int seed of the drop-path draws.

  Call args:
    inputs: float [B, H, W, 3] normalised images.
    training: BatchNorm and drop-path mode; also runs the auxiliary head.

  Returns:
    float32 logits [B, num_classes].

  Raises:
    ValueError: a malformed genotype, an unknown variant, or an invalid size, weight or rate;
      when built, images too small for the auxiliary head.

  Example:
    >>> net = DartsNetwork(TENAS_CIFAR10, num_classes=10, auxiliary_weight=0.4)
    >>> net.build((None, 32, 32, 3))
    >>> net.compile(optimizer="sgd", loss=keras.losses.CategoricalCrossentropy(from_logits=True))

  Reference: Liu et al., DARTS (ICLR 2019) section 3.3 and appendix A.2; TENAS_SPEC.md
  section 7.
  """

  def __init__(self, genotype, num_classes=10, channels=None, num_cells=None, variant="cifar",
               auxiliary_weight=0.0, drop_path_rate=0.0, init="pytorch_default", seed=0,
               **kwargs):
    super().__init__(**kwargs)
    self.variant = darts_heads.check_variant(variant)
    default_channels, default_cells = DEFAULT_SIZES[variant]
    self.channels = default_channels if channels is None else channels
    self.num_cells = default_cells if num_cells is None else num_cells
    for name, value in (("num_classes", num_classes), ("channels", self.channels),
                        ("num_cells", self.num_cells)):
      ops_lib._check_positive_int(name, value)  # pylint: disable=protected-access
    self.genotype = darts.DartsGenotype.parse(genotype).to_json()
    self.num_classes = num_classes
    if (isinstance(auxiliary_weight, bool) or not isinstance(auxiliary_weight, (int, float))
        or not auxiliary_weight >= 0):
      raise ValueError(f"auxiliary_weight must be a float >= 0; got {auxiliary_weight!r}")
    self.auxiliary_weight = float(auxiliary_weight)
    self.drop_path_rate = _check_rate("drop_path_rate", drop_path_rate)
    self.init = init_lib.check_init_scheme(init)
    self.seed = _check_seed(seed)
    self.stem = darts_heads.DartsStem(self.channels, variant, init, name="stem")
    reductions = reduction_indices(self.num_cells)
    self.cell_layers = []
    width, reduction_prev = self.channels, variant == "imagenet"
    for index in range(self.num_cells):
      reduction = index in reductions
      width *= 2 if reduction else 1
      self.cell_layers.append(DartsCell(
          width, self.genotype, reduction, reduction_prev, init, self.drop_path_rate,
          seed * _CELL_SEEDS + index,
          name=f"cell_{index}_{'reduce' if reduction else 'normal'}"))
      reduction_prev = reduction
    self.auxiliary_index = 2 * self.num_cells // 3
    self.auxiliary_head = (darts_heads.AuxiliaryHead(num_classes, variant, init,
                                                     name="auxiliary_head")
                           if self.auxiliary_weight else None)
    self.pool = keras.layers.GlobalAveragePooling2D(name="pool")
    self.classifier = keras.layers.Dense(
        num_classes, kernel_initializer=init_lib.kernel_initializer(init), name="classifier")
    # Per thread, the auxiliary logits of its latest call (None: not training), for
    # `compute_loss` (see above).
    self._auxiliary_logits = {}

  def build(self, input_shape):
    input_shape = tuple(input_shape)
    self.stem.build(input_shape)
    s0, s1 = self.stem.compute_output_shape(input_shape)
    for index, cell in enumerate(self.cell_layers):
      cell.build([s0, s1])
      s0, s1 = s1, cell.compute_output_shape([s0, s1])
      if index == self.auxiliary_index and self.auxiliary_head is not None:
        self.auxiliary_head.build(s1)
    self.classifier.build((s1[0], s1[-1]))

  def call(self, inputs, training=None):
    s0, s1 = self.stem(inputs, training=training)
    auxiliary = None
    for index, cell in enumerate(self.cell_layers):
      s0, s1 = s1, cell([s0, s1], training=training)
      if index == self.auxiliary_index and self.auxiliary_head is not None and training:
        auxiliary = self.auxiliary_head(s1, training=training)
    self._auxiliary_logits[threading.get_ident()] = auxiliary
    return kops.cast(self.classifier(self.pool(s1)), "float32")

  def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
    """The compiled loss of the main logits, plus `auxiliary_weight` times that of the
    auxiliary logits of the training call that produced `y_pred`."""
    loss = super().compute_loss(x, y, y_pred, sample_weight, training)
    auxiliary = self._auxiliary_logits.pop(threading.get_ident(), None)
    if not training or auxiliary is None:
      return loss
    # The loss `compile` was given, applied as `fit` applies it (reduction, replica scaling).
    compiled_loss = self._compile_loss  # pylint: disable=protected-access
    auxiliary_loss = kops.cast(compiled_loss(y, auxiliary, sample_weight), loss.dtype)
    return loss + kops.cast(self.auxiliary_weight, loss.dtype) * auxiliary_loss

  def compute_output_shape(self, input_shape):
    return (input_shape[0], self.num_classes)

  def get_config(self):
    config = super().get_config()
    config.update(genotype=self.genotype, num_classes=self.num_classes, channels=self.channels,
                  num_cells=self.num_cells, variant=self.variant,
                  auxiliary_weight=self.auxiliary_weight, drop_path_rate=self.drop_path_rate,
                  init=self.init, seed=self.seed)
    return config
