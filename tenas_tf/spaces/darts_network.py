"""DARTS' evaluation network of one genotype, for retraining a found cell.

Its cells are the supernet's `DartsCell`, built with exactly the genotype's op on each of the 8
chosen edges (nothing on the other 6) and called without an alive mask. `DartsNetwork` stacks
them in DARTS' evaluation skeleton (`darts_heads` has the stems and the auxiliary head):

  stem -> num_cells cells (reduction cells at num_cells // 3 and 2 * num_cells // 3, where the
  node width doubles) -> global average pool -> dense(num_classes)

with C=36, 20 cells for CIFAR and C=48, 14 cells for ImageNet (DARTS, Liu et al., ICLR 2019,
section 3.3). Cell i takes the outputs of cells i - 2 and i - 1. Drop-path (per sample, training
only) acts on every edge output that is not an identity `skip_connect`, as DARTS' evaluation
code does (a stride-2 `skip_connect` is a FactorizedReduce and is dropped too).
"""

import keras
from keras import ops as kops

from tenas_tf import checks
from tenas_tf.spaces import cell as cell_lib
from tenas_tf.spaces import darts
from tenas_tf.spaces import darts_heads
from tenas_tf.spaces import init as init_lib

_SERIAL_PACKAGE = "tenas_tf"
# DARTS' evaluation sizes per variant: (C, number of cells).
DEFAULT_SIZES = {"cifar": (36, 20), "imagenet": (48, 14)}
# Seeds of the drop-path draws: cell i of a network seeded s draws from s * _CELL_SEEDS + i;
# distinct for up to _CELL_SEEDS cells.
_CELL_SEEDS = 1024


def reduction_indices(num_cells):
  """The positions of the reduction cells among `num_cells` cells: num_cells // 3, 2 * num_cells
  // 3 (one position when they coincide, for fewer than 3 cells)."""
  return tuple(sorted({num_cells // 3, 2 * num_cells // 3}))


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class DartsNetwork(keras.Model):
  """DARTS' evaluation network of one genotype, CIFAR or ImageNet skeleton, auxiliary head.

  `DartsStem` -> `num_cells` `DartsCell`s (reduction cells at `reduction_indices(num_cells)`,
  node width doubled there) -> global average pool -> dense(num_classes); with
  `auxiliary_weight` > 0, an `AuxiliaryHead` on the output of cell 2 * num_cells // 3. Inputs are
  normalised images; outputs are float32 logits.

  The auxiliary logits are the model's second output in training: `call(training=True)` returns
  (main logits, auxiliary logits) when the network has a head, and the main logits alone
  otherwise and in every other mode, so inference, `predict`, `evaluate` and the exported
  serving signature see the main logits only. `fit`'s train step hands that pair to
  `compute_loss`, which returns the compiled loss of the main logits plus `auxiliary_weight`
  times that of the auxiliary ones (DARTS' `loss + w * loss_aux`; the reported training loss is
  that sum), and to `compute_metrics`, which measures the main logits only. Both are Keras'
  public hooks for this; nothing is kept between calls, so every replica of a distribution
  strategy computes its own sum.

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
    float32 logits [B, num_classes]; in training with a head, the pair (logits, auxiliary
    logits), both [B, num_classes].

  Raises:
    ValueError: a malformed genotype, an unknown variant, or an invalid size, weight or rate;
      when built, images too small for the auxiliary head.

  Example:
    >>> net = DartsNetwork(TENAS_CIFAR10, num_classes=10, auxiliary_weight=0.4)
    >>> net.build((None, 32, 32, 3))
    >>> net.compile(optimizer="sgd", loss=keras.losses.CategoricalCrossentropy(from_logits=True))

  Reference: Liu et al., DARTS (ICLR 2019) section 3.3 and appendix A.2; TE-NAS (Chen et al.,
  ICLR 2021), its retraining of the found cells in DARTS' protocol.
  """

  def __init__(self, genotype, num_classes=10, channels=None, num_cells=None, variant="cifar",
               auxiliary_weight=0.0, drop_path_rate=0.0, init="pytorch_default", seed=0,
               **kwargs):
    super().__init__(**kwargs)
    self.variant = darts_heads.check_variant(variant)
    default_channels, default_cells = DEFAULT_SIZES[variant]
    self.num_classes = checks.integer("num_classes", num_classes, 1)
    self.channels = checks.integer(
        "channels", default_channels if channels is None else channels, 1)
    self.num_cells = checks.integer(
        "num_cells", default_cells if num_cells is None else num_cells, 1)
    parsed = darts.DartsGenotype.parse(genotype)
    self.genotype = parsed.to_json()
    self.auxiliary_weight = checks.real("auxiliary_weight", auxiliary_weight, 0)
    self.drop_path_rate = checks.real("drop_path_rate", drop_path_rate, 0, below=1)
    self.init = init_lib.check_init_scheme(init)
    self.seed = checks.integer("seed", seed)
    built_ops = darts.built_ops_of(parsed.alive_mask())
    self.stem = darts_heads.DartsStem(self.channels, variant, init, name="stem")
    reductions = reduction_indices(self.num_cells)
    self.cell_layers = []
    width, reduction_prev = self.channels, variant == "imagenet"
    for index in range(self.num_cells):
      kind = "reduce" if index in reductions else "normal"
      width *= 2 if kind == "reduce" else 1
      self.cell_layers.append(cell_lib.DartsCell(
          width, kind == "reduce", reduction_prev, built_ops[darts.CELL_TYPES.index(kind)],
          init, drop_path_rate=self.drop_path_rate, seed=seed * _CELL_SEEDS + index,
          name=f"cell_{index}_{kind}"))
      reduction_prev = kind == "reduce"
    self.auxiliary_index = 2 * self.num_cells // 3
    self.auxiliary_head = (darts_heads.AuxiliaryHead(num_classes, variant, init,
                                                     name="auxiliary_head")
                           if self.auxiliary_weight else None)
    self.pool = keras.layers.GlobalAveragePooling2D(name="pool")
    self.classifier = keras.layers.Dense(
        num_classes, kernel_initializer=init_lib.kernel_initializer(init), name="classifier")

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
    logits = kops.cast(self.classifier(self.pool(s1)), "float32")
    return logits if auxiliary is None else (logits, auxiliary)

  def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
    """The compiled loss of the main logits, plus `auxiliary_weight` times that of the
    auxiliary logits when `y_pred` is the training pair (logits, auxiliary logits)."""
    if not isinstance(y_pred, (tuple, list)):
      return super().compute_loss(x, y, y_pred, sample_weight, training)
    logits, auxiliary = y_pred
    loss = super().compute_loss(x, y, logits, sample_weight, training)
    # Keras' loss of the auxiliary logits alone: the compiled loss, applied as `fit` applies it
    # (reduction, replica scaling). It would also add `self.losses`, but this network has none
    # (no regulariser, no `add_loss`: weight decay is the optimizer's).
    auxiliary_loss = kops.cast(
        super().compute_loss(x, y, auxiliary, sample_weight, training), loss.dtype)
    return loss + kops.cast(self.auxiliary_weight, loss.dtype) * auxiliary_loss

  def compute_metrics(self, x, y, y_pred, sample_weight=None):
    """The compiled metrics of the main logits (of the first output in training)."""
    if isinstance(y_pred, (tuple, list)):
      y_pred = y_pred[0]
    return super().compute_metrics(x, y, y_pred, sample_weight)

  def compute_output_shape(self, input_shape):
    return (input_shape[0], self.num_classes)

  def get_config(self):
    config = super().get_config()
    config.update(genotype=self.genotype, num_classes=self.num_classes, channels=self.channels,
                  num_cells=self.num_cells, variant=self.variant,
                  auxiliary_weight=self.auxiliary_weight, drop_path_rate=self.drop_path_rate,
                  init=self.init, seed=self.seed)
    return config
