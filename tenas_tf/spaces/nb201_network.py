"""The discrete NAS-Bench-201 network of one genotype, for retraining a found cell.

Where the supernet (`nb201_supernet`) holds every op of every edge behind an alive mask, this
network holds only the genotype's ops: a `none` edge builds nothing and adds nothing (NB201's
`Zero` op adds exactly zero), every other edge is the op itself. The macro skeleton is NB201's:

  stem conv 3x3 (C) + BN -> N cells(C) -> ResNetBlock(2C) -> N cells(2C) -> ResNetBlock(4C)
  -> N cells(4C) -> BN -> ReLU -> global average pool -> dense(num_classes)

with C=16, N=5 for the NB201 benchmark (NB201 paper section 2.1; TENAS_SPEC.md section 7).
Drop-path (DARTS's regulariser: each non-identity edge output dropped per sample, training only)
is off by default; NB201's own training protocol does not use it.
"""

import keras
from keras import ops as kops
import tensorflow as tf

from tenas_tf.spaces import init as init_lib
from tenas_tf.spaces import nb201
from tenas_tf.spaces import ops as ops_lib

_SERIAL_PACKAGE = "tenas_tf"


def _check_rate(name, value):
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
    raise ValueError(f"{name} must be a float in [0, 1); got {value!r}")
  return float(value)


def _check_seed(seed):
  if isinstance(seed, bool) or not isinstance(seed, int):
    raise ValueError(f"seed must be an int; got {seed!r}")
  return seed


def _arch_string(genotype):
  """The arch string of a genotype given as `NB201Genotype` or string (validated)."""
  if isinstance(genotype, nb201.NB201Genotype):
    return genotype.to_string()
  return nb201.NB201Genotype.from_string(genotype).to_string()


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class DropPath(keras.layers.Layer):
  """Drops the whole input of some samples (drop-path / stochastic depth), in training only.

  Each sample of the batch is kept with probability 1 - rate and then scaled by 1 / (1 - rate),
  so the expected output equals the input; at inference the input passes unchanged. One draw per
  sample, shared by all its pixels and channels (DARTS's `drop_path`).

  The draws are stateless, seeded by (`seed`, number of training calls so far, replica): the
  call counter is a non-trainable weight, saved with the model and with
  `keras.callbacks.BackupAndRestore`'s backups, so a resumed training draws what an
  uninterrupted one would; each replica of a distribution strategy draws its own masks.

  Args:
    rate: probability of dropping a sample, in [0, 1).
    seed: int seed of the draws.

  Example:
    >>> DropPath(0.2, seed=0)(x, training=True)   # about a fifth of the samples are zeros

  Reference: Liu et al., DARTS (ICLR 2019), section 3.3 (drop-path of Larsson et al.).
  """

  def __init__(self, rate, seed=0, **kwargs):
    super().__init__(**kwargs)
    self.rate = _check_rate("rate", rate)
    self.seed = _check_seed(seed)

  def build(self, input_shape):
    self.calls = self.add_weight(shape=(), dtype="int64", initializer="zeros",
                                 trainable=False, aggregation="only_first_replica",
                                 name="calls")

  def call(self, inputs, training=None):
    if not training or self.rate == 0.0:
      return inputs
    context = tf.distribute.get_replica_context()
    replica = 0 if context is None else context.replica_id_in_sync_group
    seed = tf.random.experimental.stateless_fold_in(
        tf.random.experimental.stateless_fold_in(tf.constant([self.seed, 0], tf.int64),
                                                 self.calls), replica)
    self.calls.assign_add(1)
    keep = 1.0 - self.rate
    shape = tf.concat([tf.shape(inputs)[:1], tf.ones([len(inputs.shape) - 1], tf.int32)], 0)
    mask = tf.cast(tf.random.stateless_uniform(shape, seed) < keep, inputs.dtype)
    return inputs * mask / tf.cast(keep, inputs.dtype)

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    config = super().get_config()
    config.update(rate=self.rate, seed=self.seed)
    return config


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class NB201Cell(keras.layers.Layer):
  """One NB201 cell with a fixed op per edge: node i = sum over j < i of op(j -> i)(node j).

  Edge layers are named `edge_{j}_to_{i}` as in the supernet's `NB201SearchCell`; `none` edges
  have no layer. A node without a non-`none` input is zero, as in NB201.

  Args:
    channels: channels of every node.
    genotype: the cell, an `NB201Genotype` or its arch string; stored as the arch string.
    init: initialisation scheme of the convolutions, see `tenas_tf.spaces.init.INIT_SCHEMES`.
    drop_path_rate: per-sample drop probability of each edge's output in training, except
      `skip_connect` edges (as DARTS, which never drops identities); 0 turns it off.
    seed: int seed of the drop-path draws (edge k draws with seed `seed * 16 + k`).

  Call args:
    inputs: [B, H, W, channels].
    training: BatchNorm and drop-path mode.

  Returns:
    Node 3, [B, H, W, channels].

  Raises:
    ValueError: for a malformed arch string, non-positive channels or a rate outside [0, 1).

  Example:
    >>> cell = NB201Cell(16, "|nor_conv_3x3~0|+|none~0|skip_connect~1|+"
    ...                      "|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|")
    >>> cell(tf.zeros([2, 32, 32, 16])).shape
    TensorShape([2, 32, 32, 16])

  Reference: NB201 (Dong & Yang, ICLR 2020) section 2.1; TENAS_SPEC.md section 1.
  """

  def __init__(self, channels, genotype, init="pytorch_default", drop_path_rate=0.0, seed=0,
               **kwargs):
    super().__init__(**kwargs)
    ops_lib._check_positive_int("channels", channels)  # pylint: disable=protected-access
    self.channels = channels
    self.genotype = _arch_string(genotype)
    self.init = init_lib.check_init_scheme(init)
    self.drop_path_rate = _check_rate("drop_path_rate", drop_path_rate)
    self.seed = _check_seed(seed)
    ops = nb201.NB201Genotype.from_string(self.genotype).ops
    # Only edges that are not `none` get a layer: `edge_ops[k]` runs edge `self._edges[k]`.
    self._edges = [edge for edge, op in zip(nb201.EDGES, ops) if op != "none"]
    self.edge_ops = [ops_lib.nb201_op(op, channels, init, name=f"edge_{j}_to_{i}")
                     for (i, j), op in zip(nb201.EDGES, ops) if op != "none"]
    # Drop-path layers by edge, for the edges that drop (not `none`, not `skip_connect`).
    self.drop_paths = {}
    if self.drop_path_rate:
      for index, ((i, j), op) in enumerate(zip(nb201.EDGES, ops)):
        if op not in ("none", "skip_connect"):
          self.drop_paths[f"{j}_to_{i}"] = DropPath(
              self.drop_path_rate, seed * 16 + index, name=f"drop_path_{j}_to_{i}")

  def build(self, input_shape):
    for layer in self.edge_ops:
      layer.build(input_shape)
    for drop in self.drop_paths.values():
      drop.build(input_shape)

  def call(self, inputs, training=None):
    nodes = [inputs]
    for target in range(1, nb201.NUM_NODES):
      incoming = []
      for (i, j), layer in zip(self._edges, self.edge_ops):
        if i != target:
          continue
        x = layer(nodes[j], training=training)
        drop = self.drop_paths.get(f"{j}_to_{i}")
        if drop is not None:
          x = drop(x, training=training)
        incoming.append(x)
      if not incoming:
        nodes.append(tf.zeros_like(inputs))
      else:
        nodes.append(incoming[0] if len(incoming) == 1 else tf.add_n(incoming))
    return nodes[-1]

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels, genotype=self.genotype, init=self.init,
                  drop_path_rate=self.drop_path_rate, seed=self.seed)
    return config


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class NB201Network(keras.Model):
  """The NB201 network of one genotype: NB201's macro skeleton around `NB201Cell`s.

  stem conv3x3(C)+BN -> N cells(C) -> ResNetBlock(2C) -> N cells(2C) -> ResNetBlock(4C)
  -> N cells(4C) -> BN -> ReLU -> global average pool -> dense(num_classes). Inputs are
  normalised images (`(x / 255 - mean) / std`, as `tenas_tf.train` feeds them); outputs are
  float32 logits, also under a mixed-precision policy.

  Layer names follow the supernet's (`stem_conv`, `cell_{stage}_{i}`, `reduce_{stage}`,
  `head_bn`, `classifier`, `edge_{j}_to_{i}`); the supernet nests each op under its name inside
  the edge, this network does not.

  Args:
    genotype: the cell, an `NB201Genotype` or its arch string; stored as the arch string.
    num_classes: number of logits.
    channels: C, the first stage's width (16 in NB201).
    cells_per_stage: N (5 in NB201).
    init: initialisation scheme, `tenas_tf.spaces.init.INIT_SCHEMES`.
    drop_path_rate: see `NB201Cell`; 0 (off) in NB201's protocol.
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

  Reference: NB201 (Dong & Yang, ICLR 2020) section 2.1; TENAS_SPEC.md section 7.
  """

  def __init__(self, genotype, num_classes=10, channels=16, cells_per_stage=5,
               init="pytorch_default", drop_path_rate=0.0, seed=0, **kwargs):
    super().__init__(**kwargs)
    for name, value in (("num_classes", num_classes), ("channels", channels),
                        ("cells_per_stage", cells_per_stage)):
      ops_lib._check_positive_int(name, value)  # pylint: disable=protected-access
    self.genotype = _arch_string(genotype)
    self.num_classes = num_classes
    self.channels = channels
    self.cells_per_stage = cells_per_stage
    self.init = init_lib.check_init_scheme(init)
    self.drop_path_rate = _check_rate("drop_path_rate", drop_path_rate)
    self.seed = _check_seed(seed)
    # 'same' at stride 1 is PyTorch's symmetric padding 1 for a 3x3 kernel.
    self.stem_conv = ops_lib.conv2d(channels, 3, 1, init, padding="same", name="stem_conv")
    self.stem_bn = ops_lib.batch_norm(name="stem_bn")
    self.body = []
    for stage in range(3):
      width = channels * 2**stage
      if stage:
        self.body.append(ops_lib.ResNetBlock(width, init, name=f"reduce_{stage}"))
      for cell in range(cells_per_stage):
        self.body.append(NB201Cell(width, self.genotype, init, self.drop_path_rate,
                                   seed * 64 + len(self.body), name=f"cell_{stage}_{cell}"))
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
