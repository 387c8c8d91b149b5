"""The edge of both spaces' cells: its ops, the alive mask of a search, drop-path in retraining.

One layer serves the supernet and the discrete network of a genotype:
- supernet: an edge holds several ops (`built_ops`) and `call` takes their alive bits. One Keras
  model then serves every candidate of a search: a candidate differs from its origin only in one
  alive bit, so the search assigns the mask variable and reuses the traced graph and weights.
- discrete network: an edge holds exactly the genotype's op and `call` takes no mask; with
  `drop_path_rate` > 0 its output is dropped per sample in training (DARTS' regulariser).

A dead op is exactly absent, in one of two ways (`skip_dead_ops`):
- skipped: each op runs inside a `tf.cond` on its alive bit, so a dead op computes nothing and
  its weights get no gradient (zero Jacobian columns, the same NTK). The NTK nets do this: the
  vectorised Jacobian then costs nothing for dead ops and no mask multiplications for live ones.
- masked: a dead op sees a zeroed input (its ReLU pattern becomes a constant column, which never
  changes a count of distinct patterns) and its output is multiplied by zero. The linear-region
  nets do this, because `num_linear_regions` records ReLU layer outputs by wrapping the layers'
  `call`, and a tensor made inside a `tf.cond` branch cannot be pulled out of it.
The NTK's batched backward (`tenas_tf.spaces.batched_backward`, `jacobian_forward` here, the NB201
cell's grouped one) is ONE traced graph for every mask: it runs every built op times its alive
bit (`ops_and_bits`), so a dead op adds exactly zero and gets zero rows; `none` ops do not run.
An edge with no alive op adds exactly zero. Edges built with fewer ops hold only those: the
physically pruned network the masked supernet must match, as the tests check.
Reference: TE-NAS (Chen et al., ICLR 2021) section 3.3, pruning by one op per edge at a time.
"""

import types

import keras
import tensorflow as tf

from tenas_tf import checks
from tenas_tf.spaces import batched_backward
from tenas_tf.spaces import darts_ops
from tenas_tf.spaces import init as init_lib
from tenas_tf.spaces import ops as ops_lib

_SERIAL_PACKAGE = "tenas_tf"
# Space name -> its op registry (`ops.OpRegistry`: op name -> layer factory, edge strides).
OP_REGISTRIES = types.MappingProxyType({"nb201": ops_lib.NB201_REGISTRY,
                                        "darts": darts_ops.DARTS_REGISTRY})
# Ops whose output drop-path leaves alone: DARTS never drops an identity, and zeros stay zeros.
_NEVER_DROPPED = (ops_lib.Identity, ops_lib.Zero)


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
    self.rate = checks.real("rate", rate, 0, below=1)
    self.seed = checks.integer("seed", seed)

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
class MixedEdge(keras.layers.Layer):
  """One cell edge: the mean of its alive ops at its stride; zero when none is alive.

  The ops come from the registry of `space` (`OP_REGISTRIES`), by name, each a sublayer named
  after its op. Without an alive mask every built op is alive: an edge of one op is that op
  (the discrete network of a genotype). A dead op is skipped or masked (module docstring);
  either way it is exactly absent.

  Args:
    channels: channels in and out.
    strides: 1, or 2 on a DARTS reduction cell's edges from the cell inputs.
    space: "nb201" or "darts", whose op registry builds the ops; the mask has one column per op
      of that registry.
    built_ops: names of the ops to build, in any order (default: every op of the space).
    init: initialisation scheme.
    skip_dead_ops: run each op under a `tf.cond` on its alive bit (True) instead of masking it
      (False, the default: layer outputs stay visible to per-layer recording such as
      `num_linear_regions`).
    drop_path_rate: per-sample drop probability of the edge's output in training, in [0, 1);
      never applied to an edge of identities or zeros only (as DARTS, which never drops an
      identity). 0, the default, builds no `DropPath`.
    seed: int seed of the drop-path draws.

  Call args:
    inputs: [B, H, W, channels].
    alive: [len(space ops)] float tensor of 0/1 alive bits (0 for every op not built), or None:
      every built op alive.
    training: BatchNorm and drop-path mode.

  Returns:
    [B, ceil(H / strides), ceil(W / strides), channels].

  Raises:
    ValueError: an unknown space, a stride its edges do not take, or an unknown built op.

  Example:
    >>> edge = MixedEdge(4, strides=2, space="darts", built_ops=["skip_connect", "max_pool_3x3"])
    >>> edge(tf.zeros([2, 8, 8, 4]), tf.one_hot(1, len(DARTS_OPS))).shape
    TensorShape([2, 4, 4, 4])
    >>> MixedEdge(4, built_ops=["nor_conv_3x3"])(tf.zeros([2, 8, 8, 4])).shape  # one op
    TensorShape([2, 8, 8, 4])
  """

  def __init__(self, channels, strides=1, space="nb201", built_ops=None, init="pytorch_default",
               skip_dead_ops=False, drop_path_rate=0.0, seed=0, **kwargs):
    super().__init__(**kwargs)
    self.channels = checks.integer("channels", channels, 1)
    self.space = checks.one_of("space", space, tuple(OP_REGISTRIES))
    registry = OP_REGISTRIES[space]
    self.strides = checks.one_of("strides", checks.integer("strides", strides, 1),
                                 registry.strides)
    self.built_ops = registry.names if built_ops is None else tuple(built_ops)
    for op in self.built_ops:
      checks.one_of("op", op, registry.names)
    self.init = init_lib.check_init_scheme(init)
    self.skip_dead_ops = checks.boolean("skip_dead_ops", skip_dead_ops)
    self.drop_path_rate = checks.real("drop_path_rate", drop_path_rate, 0, below=1)
    self.seed = checks.integer("seed", seed)
    self.op_layers = [registry.build(op, channels, strides, init, name=op)
                      for op in self.built_ops]
    self._columns = [registry.names.index(op) for op in self.built_ops]
    dropped = any(not isinstance(layer, _NEVER_DROPPED) for layer in self.op_layers)
    self.drop_path = (DropPath(self.drop_path_rate, self.seed, name="drop_path")
                      if self.drop_path_rate and dropped else None)

  def build(self, input_shape):
    for layer in self.op_layers:
      layer.build(input_shape)
    if self.drop_path is not None:
      self.drop_path.build(self.compute_output_shape(input_shape))

  def _strided(self, inputs):
    # The input sampled at the edge's stride (PyTorch: x[:, :, ::s, ::s]), the shape of every op.
    return inputs if self.strides == 1 else inputs[:, ::self.strides, ::self.strides, :]

  def _skipped_op(self, layer, bit, inputs, training):
    # The dead branch is `0 * inputs`, not a constant: its gradient then stays a product with the
    # cotangent, where a constant zero gradient would be tiled per sample by pfor and folded into
    # huge graph constants (tens of seconds at the first call).
    return tf.cond(bit > 0.0, lambda: layer(inputs, training=training),
                   lambda: 0.0 * self._strided(inputs))

  def _mean_of_alive(self, inputs, alive, training):
    if alive is None:
      outputs = [layer(inputs, training=training) for layer in self.op_layers]
      count = float(len(outputs))
    elif self.skip_dead_ops:
      outputs = [self._skipped_op(layer, alive[column], inputs, training)
                 for column, layer in zip(self._columns, self.op_layers)]
      count = tf.maximum(tf.reduce_sum(alive), 1.0)
    else:
      outputs = [alive[column] * layer(alive[column] * inputs, training=training)
                 for column, layer in zip(self._columns, self.op_layers)]
      count = tf.maximum(tf.reduce_sum(alive), 1.0)
    if not outputs:
      return tf.zeros_like(self._strided(inputs))
    total = outputs[0] if len(outputs) == 1 else tf.add_n(outputs)
    return total if alive is None and len(outputs) == 1 else total / count

  def ops_and_bits(self, alive=None):
    """([(op layer, its alive bit)] for every op that can add something (not `none`), the count
    the edge's mean divides by): scalar tensors of `alive` (a [len(space ops)] float tensor of
    alive bits, `none`s counted), or 1.0 and the built ops for None. Multiplied by its bit, a
    dead op adds exactly zero, so one computation over every op serves every mask (the traced
    Jacobian, `batched_backward.traced_jacobian`)."""
    if self.drop_path is not None:
      raise NotImplementedError(f"{self.name}: drop-path has no batched backward")
    if alive is None:
      bits, count = [1.0] * len(self.op_layers), float(len(self.op_layers))
    else:
      bits = [alive[column] for column in self._columns]
      count = tf.maximum(tf.reduce_sum(alive), 1.0)
    return [(layer, bit) for layer, bit in zip(self.op_layers, bits)
            if not isinstance(layer, (ops_lib.Zero, darts_ops.StridedZero))], count

  def jacobian_forward(self, inputs, rows, alive=None):
    """Training-mode (outputs, backward) for `batched_backward`; `alive`: this edge's alive bits
    (a tensor) or None. Every built op runs times its bit (`ops_and_bits`); `none` ops, which add
    zero, do not run."""
    ops_and_bits, count = self.ops_and_bits(alive)
    if not ops_and_bits:
      return batched_backward.zeros(self._strided(inputs), inputs)
    total, backward = batched_backward.added(
        [batched_backward.scaled(batched_backward.forward(layer, inputs, rows), bit)
         for layer, bit in ops_and_bits])
    if alive is None and count == 1:
      return total, backward
    outputs, undivide = batched_backward.divided(total, count)
    return outputs, batched_backward.chain(undivide, backward)

  def call(self, inputs, alive=None, training=None):
    outputs = self._mean_of_alive(inputs, alive, training)
    if self.drop_path is not None:
      outputs = self.drop_path(outputs, training=training)
    return outputs

  def compute_output_shape(self, input_shape):
    return ops_lib.strided_shape(input_shape, self.strides)

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels, strides=self.strides, space=self.space,
                  built_ops=list(self.built_ops), init=self.init,
                  skip_dead_ops=self.skip_dead_ops, drop_path_rate=self.drop_path_rate,
                  seed=self.seed)
    return config
