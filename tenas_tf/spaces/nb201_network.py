"""The NAS-Bench-201 network of one genotype, for retraining a found cell.

Its cells are the supernet's `NB201Cell`, built with exactly the genotype's op on each edge and
called without an alive mask (a `none` edge's `Zero` adds exactly zero, as NB201's op). The
macro skeleton is NB201's (`nb201_supernet.body_plan`):

  stem conv 3x3 (C) + BN -> N cells(C) -> ResNetBlock(2C) -> N cells(2C) -> ResNetBlock(4C)
  -> N cells(4C) -> BN -> ReLU -> global average pool -> dense(num_classes)

with C=16, N=5 for the NB201 benchmark (NAS-Bench-201, Dong & Yang, ICLR 2020, section 2.1).
Drop-path (DARTS's regulariser: each non-identity edge output dropped per sample, training only)
is off by default; NB201's own training protocol does not use it.
"""

import keras
from keras import ops as kops

from tenas_tf import checks
from tenas_tf.spaces import cell as cell_lib
from tenas_tf.spaces import init as init_lib
from tenas_tf.spaces import nb201
from tenas_tf.spaces import nb201_supernet
from tenas_tf.spaces import ops as ops_lib

_SERIAL_PACKAGE = "tenas_tf"


def _arch_string(genotype):
  """The arch string of a genotype given as `NB201Genotype` or string (validated)."""
  if isinstance(genotype, nb201.NB201Genotype):
    return genotype.to_string()
  return nb201.NB201Genotype.from_string(genotype).to_string()


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class NB201Network(keras.Model):
  """The NB201 network of one genotype: NB201's macro skeleton around one-op-per-edge `NB201Cell`s.

  stem conv3x3(C)+BN -> N cells(C) -> ResNetBlock(2C) -> N cells(2C) -> ResNetBlock(4C)
  -> N cells(4C) -> BN -> ReLU -> global average pool -> dense(num_classes). Inputs are
  normalised images (`(x / 255 - mean) / std`, as `tenas_tf.train` feeds them); outputs are
  float32 logits, also under a mixed-precision policy.

  Layer names and variable paths are the supernet's (`stem_conv`, `cell_{stage}_{i}`,
  `reduce_{stage}`, `edge_{j}_to_{i}/{op}`, `head_bn`, `classifier`), so weights carry over by
  path between the pruned supernet and this network.

  Args:
    genotype: the cell, an `NB201Genotype` or its arch string; stored as the arch string.
    num_classes: number of logits.
    channels: C, the first stage's width (16 in NB201).
    cells_per_stage: N (5 in NB201).
    init: initialisation scheme, `tenas_tf.spaces.init.INIT_SCHEMES`.
    drop_path_rate: per-sample drop probability of each edge output but `skip_connect` and
      `none` ones, in training (`NB201Cell`); 0 (off) in NB201's protocol.
    seed: int seed of the drop-path draws (the cell at position k of the
      body draws with seed `seed * 64 + k`).

  Call args:
    inputs: float [B, H, W, 3] normalised images (32 x 32 for CIFAR, 16 x 16 for
      ImageNet16-120).
    training: BatchNorm (batch statistics) and drop-path mode.

  Returns:
    float32 logits [B, num_classes].

  Raises:
    ValueError: for a malformed arch string or an invalid size, init or rate.

  Example:
    >>> net = NB201Network("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
    ...                    "|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|", num_classes=10)
    >>> net.build((None, 32, 32, 3))
    >>> net.save("cell.keras")

  Reference: NAS-Bench-201 (Dong & Yang, ICLR 2020) section 2.1 (skeleton) and section 2.3
  (training protocol).
  """

  def __init__(self, genotype, num_classes=10, channels=16, cells_per_stage=5,
               init="pytorch_default", drop_path_rate=0.0, seed=0, **kwargs):
    super().__init__(**kwargs)
    self.num_classes = checks.integer("num_classes", num_classes, 1)
    self.channels = checks.integer("channels", channels, 1)
    self.cells_per_stage = checks.integer("cells_per_stage", cells_per_stage, 1)
    self.genotype = _arch_string(genotype)
    self.init = init_lib.check_init_scheme(init)
    self.drop_path_rate = checks.real("drop_path_rate", drop_path_rate, 0, below=1)
    self.seed = checks.integer("seed", seed)
    built_ops = nb201.built_ops_of(nb201.NB201Genotype.from_string(self.genotype).alive_mask())
    # 'same' at stride 1 is PyTorch's symmetric padding 1 for a 3x3 kernel.
    self.stem_conv = ops_lib.conv2d(channels, 3, 1, init, padding="same", name="stem_conv")
    self.stem_bn = ops_lib.batch_norm(name="stem_bn")
    # The cell at body position k draws its drop-path masks with seed `seed * 64 + k`.
    self.body = [
        cell_lib.NB201Cell(width, built_ops, init, drop_path_rate=self.drop_path_rate,
                           seed=seed * 64 + position, name=f"cell_{tag}")
        if kind == "cell"
        else ops_lib.ResNetBlock(width, init, name=f"reduce_{tag}")
        for position, (kind, width, tag) in enumerate(
            nb201_supernet.body_plan(channels, cells_per_stage))]
    self.head_bn = ops_lib.batch_norm(name="head_bn")
    self.head_relu = ops_lib.ReLU(name="head_relu")
    self.pool = keras.layers.GlobalAveragePooling2D(name="pool")
    self.classifier = keras.layers.Dense(
        num_classes, kernel_initializer=init_lib.kernel_initializer(init), name="classifier")

  def build(self, input_shape):
    input_shape = tuple(input_shape)
    self.stem_conv.build(input_shape)
    shape = self.stem_conv.compute_output_shape(input_shape)
    self.stem_bn.build(shape)
    for layer in self.body:
      layer.build(shape)
      shape = layer.compute_output_shape(shape)
    self.head_bn.build(shape)
    self.head_relu.build(shape)
    self.classifier.build((shape[0], shape[-1]))

  def call(self, inputs, training=None):
    x = self.stem_bn(self.stem_conv(inputs), training=training)
    for layer in self.body:
      x = layer(x, training=training)
    x = self.head_relu(self.head_bn(x, training=training))
    return kops.cast(self.classifier(self.pool(x)), "float32")

  def compute_output_shape(self, input_shape):
    return (input_shape[0], self.num_classes)

  def get_config(self):
    config = super().get_config()
    config.update(genotype=self.genotype, num_classes=self.num_classes, channels=self.channels,
                  cells_per_stage=self.cells_per_stage, init=self.init,
                  drop_path_rate=self.drop_path_rate, seed=self.seed)
    return config
