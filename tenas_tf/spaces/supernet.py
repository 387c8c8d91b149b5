"""The frame of both spaces' search networks: stem, classifier head, the alive mask variable.

One Keras model serves every candidate of a search: a candidate differs from its origin only in
one alive bit, so the search assigns the mask variable (`set_alive`) and reuses the traced graph
and weights. The cells (`tenas_tf.spaces.cell`) take their cell type's rows of the mask; how a
dead op is made exactly absent is `tenas_tf.spaces.edge`'s business. Networks built with
`built_ops` hold only the listed ops: the physically pruned network the masked supernet must
match, as the tests check.
Reference: TE-NAS (Chen et al., ICLR 2021) section 3.3 (the supernet pruned one op at a time).
"""

import numpy as np
import keras
import tensorflow as tf

from tenas_tf import checks
from tenas_tf.spaces import batched_backward
from tenas_tf.spaces import edge as edge_lib
from tenas_tf.spaces import init as init_lib
from tenas_tf.spaces import ops as ops_lib

# Cotangents per backward pass of `SearchNetwork.logit_sum_jacobian` (measured on 2 cores: 24 is
# as fast as 72 at batch 72 and holds a third of the cotangents).
JACOBIAN_CHUNK = 24

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
    space: "nb201" or "darts"; the mask has one column per op of its registry.
    init: initialisation scheme, `tenas_tf.spaces.init.INIT_SCHEMES`.
    skip_dead_ops: skip dead ops under `tf.cond` (True; the NTK nets) or mask them (False; needed
      by `num_linear_regions`). See the module docstring.
  """

  # Grappler's options for the traced `logit_sum_jacobian` (`batched_backward.traced_jacobian`).
  JACOBIAN_OPTIMIZER_OPTIONS = batched_backward.WITHOUT_ARITHMETIC_OPTIMIZER

  def __init__(self, num_classes, use_stem, space, init, skip_dead_ops, **kwargs):
    super().__init__(**kwargs)
    self.num_classes = checks.integer("num_classes", num_classes, 1)
    self.use_stem = checks.boolean("use_stem", use_stem)
    self.ops = edge_lib.OP_REGISTRIES[space].names
    self.init = init_lib.check_init_scheme(init)
    self.skip_dead_ops = checks.boolean("skip_dead_ops", skip_dead_ops)
    self._traced_jacobians = {}  # (variable ids, chunk size) -> `logit_sum_jacobian`'s function

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

  def build(self, input_shape):
    """Creates the weights with one eager call on zeros. Keras, for a model without `build`,
    makes them in a symbolic call instead, which builds a graph of every skipped op's `tf.cond`:
    measured on 2 cores, the DARTS NTK net of three ops took 4.0 s to construct that way and
    1.8 s this way."""
    self.call(tf.zeros([2, *input_shape[1:]]), training=False)

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

  def logit_sum_jacobian(self, images, variables, chunk_size=JACOBIAN_CHUNK):
    """Per variable of `variables` (a subset of the conv kernels, BN gammas and dense kernel),
    the [n, size] Jacobian of each image's logit sum, BatchNorm on the batch's statistics: the
    rows of the NTK (`tenas_tf.indicators.ntk_gram`), by `batched_backward` (the subclass's
    `jacobian_forward` is `call` for it). `chunk_size` cotangents go through each backward
    pass: fewer take less memory, the values stay the same.

    ONE traced graph per (variables, chunk size) and image shape serves every alive mask: the
    forward reads the mask from its variable inside the graph and runs every built op times its
    alive bit (`batched_backward.traced_jacobian`)."""
    key = (tuple(id(variable) for variable in variables), chunk_size)
    if key not in self._traced_jacobians:
      self._traced_jacobians[key] = batched_backward.traced_jacobian(
          self.jacobian_forward, list(variables), chunk_size, self.JACOBIAN_OPTIMIZER_OPTIONS)
    return self._traced_jacobians[key](images)

  def _jacobian_stem(self, inputs, rows):
    """`_stem` for `batched_backward`: (outputs, backward)."""
    if not self.use_stem:
      return inputs, lambda cotangents: cotangents
    # The images need no cotangents: the first conv skips them.
    return batched_backward.sequence([self.stem_conv, self.stem_bn], inputs, rows,
                                     input_cotangents=False)

  def _jacobian_head(self, x, rows):
    """`_head` for `batched_backward`: (logits, backward)."""
    return batched_backward.sequence([self.head_bn, self.head_relu, self.pool, self.classifier],
                                     x, rows)

  def get_config(self):
    config = super().get_config()
    config.update(num_classes=self.num_classes, use_stem=self.use_stem, init=self.init,
                  skip_dead_ops=self.skip_dead_ops)
    return config
