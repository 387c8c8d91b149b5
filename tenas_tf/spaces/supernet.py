"""What the NB201 and DARTS supernets share: the mixed edge and the masked network's frame.

One Keras model serves every candidate of a search: a candidate differs from its origin only in
one alive bit, so the search assigns the mask variable and reuses the traced graph and weights.
A dead op is exactly absent, in one of two ways (`skip_dead_ops`):
- skipped: each op runs inside a `tf.cond` on its alive bit, so a dead op computes nothing and
  its weights get no gradient (zero Jacobian columns, the same NTK). The NTK nets do this: the
  vectorised Jacobian then costs nothing for dead ops and no mask multiplications for live ones.
- masked: a dead op sees a zeroed input (its ReLU pattern becomes a constant column, which never
  changes a count of distinct patterns) and its output is multiplied by zero. The linear-region
  nets do this, because `num_linear_regions` records ReLU layer outputs by wrapping the layers'
  `call`, and a tensor made inside a `tf.cond` branch cannot be pulled out of it.
An edge with no alive op adds exactly zero. Networks built with `built_ops` hold only the listed
ops: the physically pruned network the masked supernet must match, as the tests check.
Reference: TENAS_SPEC.md sections 1-2; TENAS_DETAILS.md sections 2.5-2.6.
"""

import numpy as np
import tensorflow as tf
import keras

from tenas_tf.spaces import darts_ops
from tenas_tf.spaces import init as init_lib
from tenas_tf.spaces import ops as ops_lib

_SERIAL_PACKAGE = "tenas_tf"


def _nb201_op(op, channels, strides, init, name):
  del strides  # NB201 edges all have stride 1 (checked by `MixedEdge`)
  return ops_lib.nb201_op(op, channels, init, name=name)


# Per space, keyed by its op list: the strides its edges take, and its op builder
# (op, channels, strides, init, name) -> unbuilt layer.
_SPACE_OPS = {
    ops_lib.NB201_OPS: ((1,), _nb201_op),
    darts_ops.DARTS_OPS: (darts_ops.STRIDES, darts_ops.darts_op),
}


def check_bool(name, value):
  """`value` if it is a bool; raises ValueError naming `name` otherwise."""
  if not isinstance(value, bool):
    raise ValueError(f"{name} must be a bool; got {value!r}")
  return value


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class MixedEdge(keras.layers.Layer):
  """One supernet edge: the mean of its alive ops at its stride; zero when none is alive.

  The edge of both spaces: `ops`, the space's op list, picks the op builder (`ops.nb201_op` or
  `darts_ops.darts_op`). A dead op is skipped (`skip_dead_ops=True`) or masked (see the module
  docstring); either way it is exactly absent. Ops left out of `built_ops` are not built at all.

  Args:
    channels: channels in and out.
    strides: 1, or 2 on a DARTS reduction cell's edges from the cell inputs.
    ops: the op list of a space, in mask-column order: `NB201_OPS` (the default) or `DARTS_OPS`.
    built_ops: names of the ops to build (default: all of `ops`).
    init: initialisation scheme.
    skip_dead_ops: run each op under a `tf.cond` on its alive bit (True) instead of masking it
      (False, the default: layer outputs stay visible to per-layer recording such as
      `num_linear_regions`).

  Call args:
    inputs: [B, H, W, channels].
    alive: [len(ops)] float tensor of 0/1 alive bits (0 for every op not built).

  Returns:
    [B, ceil(H / strides), ceil(W / strides), channels].

  Raises:
    ValueError: `ops` is no space's op list, a stride the space's edges do not take, or a built
      op not in `ops`.

  Example:
    >>> edge = MixedEdge(4, strides=2, ops=DARTS_OPS, built_ops=["skip_connect", "max_pool_3x3"])
    >>> edge(tf.zeros([2, 8, 8, 4]), tf.one_hot(1, len(DARTS_OPS))).shape
    TensorShape([2, 4, 4, 4])
  """

  def __init__(self, channels, strides=1, ops=ops_lib.NB201_OPS, built_ops=None,
               init="pytorch_default", skip_dead_ops=False, **kwargs):
    super().__init__(**kwargs)
    self.channels = channels
    self.strides = strides
    self.ops = tuple(ops)
    if self.ops not in _SPACE_OPS:
      raise ValueError(f"ops must be the op list of a space, one of {tuple(_SPACE_OPS)}; "
                       f"got {ops!r}")
    space_strides, build_op = _SPACE_OPS[self.ops]
    if strides not in space_strides or isinstance(strides, bool):
      raise ValueError(f"strides must be one of {space_strides} for these ops; got {strides!r}")
    self.built_ops = self.ops if built_ops is None else tuple(built_ops)
    for op in self.built_ops:
      ops_lib.check_op(op, self.ops)
    self.init = init_lib.check_init_scheme(init)
    self.skip_dead_ops = check_bool("skip_dead_ops", skip_dead_ops)
    self.op_layers = [build_op(op, channels, strides, init, name=op) for op in self.built_ops]
    self._columns = [self.ops.index(op) for op in self.built_ops]

  def build(self, input_shape):
    for layer in self.op_layers:
      layer.build(input_shape)

  def _strided(self, inputs):
    # The input sampled at the edge's stride (PyTorch: x[:, :, ::s, ::s]), the shape of every op.
    return inputs if self.strides == 1 else inputs[:, ::self.strides, ::self.strides, :]

  def _skipped_op(self, layer, bit, inputs, training):
    # The dead branch is `0 * inputs`, not a constant: its gradient then stays a product with the
    # cotangent, where a constant zero gradient would be tiled per sample by pfor and folded into
    # huge graph constants (tens of seconds at the first call).
    return tf.cond(bit > 0.0, lambda: layer(inputs, training=training),
                   lambda: 0.0 * self._strided(inputs))

  def call(self, inputs, alive, training=None):
    if self.skip_dead_ops:
      outputs = [self._skipped_op(layer, alive[column], inputs, training)
                 for column, layer in zip(self._columns, self.op_layers)]
    else:
      outputs = [alive[column] * layer(alive[column] * inputs, training=training)
                 for column, layer in zip(self._columns, self.op_layers)]
    if not outputs:
      return tf.zeros_like(self._strided(inputs))
    total = outputs[0] if len(outputs) == 1 else tf.add_n(outputs)
    return total / tf.maximum(tf.reduce_sum(alive), 1.0)

  def compute_output_shape(self, input_shape):
    return ops_lib.strided_shape(input_shape, self.strides)

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels, strides=self.strides, ops=list(self.ops),
                  built_ops=list(self.built_ops), init=self.init,
                  skip_dead_ops=self.skip_dead_ops)
    return config


class SearchNetwork(keras.Model):
  """Base of the search networks: stem, classifier head and the alive-op mask as a variable.

  [stem conv3x3 + BN] -> the subclass's cells -> BN -> ReLU -> global average pool ->
  dense(num_classes). The mask is a non-trainable [cell types, edges, len(ops)] variable that
  starts with every built op alive; `set_alive` assigns a search's mask without retracing.

  A subclass calls, in its `__init__`, `_add_stem`, then creates its cells, then `_add_head`
  (`init_lib.initialize` draws weights in the order the layers were created, so this order is
  part of every seeded result); its `call` runs `_stem`, its cells, then `_head`.

  Args:
    num_classes: logits.
    use_stem: whether a stem conv maps the 3 input channels to the first cell's width.
    ops: op names, in mask-column order.
    init: initialisation scheme, `tenas_tf.spaces.init.INIT_SCHEMES`.
    skip_dead_ops: skip dead ops under `tf.cond` (True; the NTK nets) or mask them (False; needed
      by `num_linear_regions`). See the module docstring.
  """

  def __init__(self, num_classes, use_stem, ops, init, skip_dead_ops, **kwargs):
    super().__init__(**kwargs)
    ops_lib._check_positive_int("num_classes", num_classes)  # pylint: disable=protected-access
    self.num_classes = num_classes
    self.use_stem = check_bool("use_stem", use_stem)
    self.ops = tuple(ops)
    self.init = init_lib.check_init_scheme(init)
    self.skip_dead_ops = check_bool("skip_dead_ops", skip_dead_ops)

  def _add_stem(self, filters):
    if self.use_stem:
      # 'same' at stride 1 is PyTorch's symmetric padding 1 for a 3x3 kernel.
      self.stem_conv = ops_lib.conv2d(filters, 3, 1, self.init, padding="same", name="stem_conv")
      self.stem_bn = ops_lib.batch_norm(name="stem_bn")

  def _add_head(self, built_ops):
    """Adds the head and the mask; `built_ops`: per cell type, per edge, the op names built."""
    self.head_bn = ops_lib.batch_norm(name="head_bn")
    self.head_relu = ops_lib.ReLU(name="head_relu")
    self.pool = keras.layers.GlobalAveragePooling2D(name="pool")
    # The bias never reaches an indicator (the NTK set excludes it; it follows the last ReLU),
    # so it starts at zero; `init_lib.initialize` draws it as PyTorch would.
    self.classifier = keras.layers.Dense(
        self.num_classes, kernel_initializer=init_lib.kernel_initializer(self.init),
        name="classifier")
    self.buildable_mask = np.array(
        [[[op in edge_ops for op in self.ops] for edge_ops in cell_ops] for cell_ops in built_ops])
    # Every built op starts alive; a search assigns its own mask with `set_alive`.
    self.alive = self.add_weight(
        shape=self.buildable_mask.shape, trainable=False, name="alive",
        initializer=keras.initializers.Constant(self.buildable_mask.astype("float32")))

  def set_alive(self, mask):
    """Sets the alive-op mask ([cell types, edges, len(ops)] bools); no retracing, same weights.

    Raises:
      ValueError: a mask of another shape, or one with an op alive that was not built.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != self.buildable_mask.shape:
      raise ValueError(f"alive mask must have shape {self.buildable_mask.shape}; got {mask.shape}")
    if np.any(mask & ~self.buildable_mask):
      raise ValueError("alive mask marks ops alive that this network did not build: "
                       f"{np.argwhere(mask & ~self.buildable_mask).tolist()} (cell type, edge, op)")
    self.alive.assign(mask.astype("float32"))

  def _stem(self, inputs, training):
    if not self.use_stem:
      return inputs
    return self.stem_bn(self.stem_conv(inputs), training=training)

  def _head(self, x, training):
    x = self.head_relu(self.head_bn(x, training=training))
    return self.classifier(self.pool(x))

  def get_config(self):
    config = super().get_config()
    config.update(num_classes=self.num_classes, use_stem=self.use_stem, ops=list(self.ops),
                  init=self.init, skip_dead_ops=self.skip_dead_ops)
    return config
