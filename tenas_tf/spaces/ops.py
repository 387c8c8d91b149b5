"""Candidate operations of the NAS-Bench-201 space as serialisable Keras layers.

Every op keeps PyTorch's geometry: symmetric zero padding (TensorFlow's 'same' at stride 1 with an
odd kernel, which is symmetric; explicit padding and a 'valid' convolution at stride 2, where
'same' would pad asymmetrically), biases off, BatchNorm with PyTorch's epsilon and momentum.

The NTK indicator differentiates these layers once per sample of the batch, vectorised by pfor
(`tape.jacobian`). TensorFlow's own gradients of ReLU, batch normalisation and average pooling
vectorise badly there (pfor tiles the forward activations once per cotangent, or transposes the
cotangents), so `ReLU`, `BatchNorm`, `AvgPool3x3` and the conv + BN pair of `ReLUConvBN` carry
hand-written gradients built from broadcasts, matrix products and convolutions only: few passes
over the [cotangents, batch, H, W, C] tensors, which are what the NTK's time goes into. They equal
TensorFlow's gradients up to float32 rounding, and only change how gradients are computed.
Reference: TENAS_SPEC.md section 1.
"""

import tensorflow as tf
import keras

from tenas_tf.spaces import init as init_lib

_SERIAL_PACKAGE = "tenas_tf"
# PyTorch BatchNorm2d defaults (eps 1e-5, momentum 0.1 == Keras momentum 0.9).
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9
_PAD_1 = [[0, 0], [1, 1], [1, 1], [0, 0]]  # one zero cell on each side of H and W


def batch_norm(name=None):
  return BatchNorm(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)


def conv2d(filters, kernel_size, strides, init, padding="valid", name=None):
  return keras.layers.Conv2D(
      filters, kernel_size, strides=strides, padding=padding, use_bias=False,
      kernel_initializer=init_lib.kernel_initializer(init), name=name)


@tf.custom_gradient
def _relu(x):
  """max(x, 0); its gradient multiplies by the (loop-invariant) mask x > 0 instead of the
  `ReluGrad` op, which pfor vectorises by tiling the activations once per cotangent."""
  def grad(dy):
    return dy * tf.cast(x > 0, dy.dtype)
  return tf.nn.relu(x), grad


# The matrix-product gradients below hold [size, 2 * channels] bases built from the forward
# activations. They pay off for the indicator nets (batch 72, 1-16 channels: about 1.3 million
# entries per layer), where one backward pass is vectorised over dozens of cotangents; a layer
# whose basis would exceed this many entries (e.g. training-size batches) is differentiated
# elementwise instead.
_MAX_BASIS_ENTRIES = 1 << 23


def _basis_fits(shape, channels):
  """Whether a [size, 2 * channels] basis for a tensor of static `shape` stays small."""
  size = tf.TensorShape(shape).num_elements()
  return size is not None and size * 2 * channels <= _MAX_BASIS_ENTRIES


def _batch_norm_training(x, gamma, beta, epsilon):
  """Batch-statistics BatchNorm over all axes but the last: returns (y, mean, variance).

  Same values as `tf.nn.batch_normalization` with `tf.nn.moments` (biased variance). The
  gradient is written so that, vectorised over many cotangents, it makes few passes over them:
  with xhat = (x - mean) / sqrt(variance + epsilon) and n values per channel,
    dbeta = sum(dy), dgamma = sum(dy * xhat),
    dx = gamma / sqrt(variance + epsilon) * (dy - (dbeta + xhat * dgamma) / n).
  When the basis [1 (x) I, xhat (x) I] ([size, 2C]) is small (`_basis_fits`), both sums come
  from ONE matrix product of the flat cotangent with it and the correction term from one product
  with its transpose: four passes over the cotangents (read, write correction, scale, subtract)
  where the elementwise form makes about eight.
  """
  axes = list(range(x.shape.rank - 1))
  channels = x.shape[-1]

  @tf.custom_gradient
  def normalize(x, gamma, beta):
    mean, variance = tf.nn.moments(x, axes)
    inv_std = tf.math.rsqrt(variance + epsilon)
    x_hat = (x - mean) * inv_std
    y = x_hat * gamma + beta
    count = tf.cast(tf.size(x) // channels, x.dtype)

    def grad(dy, unused_dmean, unused_dvariance):
      # Mean and variance only feed the moving statistics, which are not differentiated.
      del unused_dmean, unused_dvariance
      scale = gamma * inv_std
      if not _basis_fits(x.shape, channels):
        dbeta = tf.reduce_sum(dy, axes)
        dgamma = tf.reduce_sum(dy * x_hat, axes)
        dx = scale * (dy - (dbeta + x_hat * dgamma) / count)
        return dx, dgamma, dbeta
      eye = tf.eye(channels, dtype=x.dtype)
      basis = tf.concat([tf.reshape(tf.ones_like(x_hat)[..., None] * eye, [-1, channels]),
                         tf.reshape(x_hat[..., None] * eye, [-1, channels])], axis=1)
      sums = tf.matmul(tf.reshape(dy, [1, -1]), basis)[0]  # [2C]: dbeta, dgamma
      dbeta, dgamma = sums[:channels], sums[channels:]
      coefficients = sums * tf.tile(scale / count, [2])
      correction = tf.matmul(coefficients[None], basis, transpose_b=True)
      dx = dy * scale - tf.reshape(correction, tf.shape(dy))
      return dx, dgamma, dbeta

    return (y, mean, variance), grad

  return normalize(x, gamma, beta)


def _conv_batch_norm_training(x, kernel, gamma, beta, strides, padding, epsilon):
  """BN(conv(x)) over batch statistics, differentiated as one op: returns (y, mean, variance).

  The conv has no bias. With z = conv(x), z_hat its normalisation, s = gamma / sqrt(var + eps),
  A = s * sum(dy) / n and B = s * sum(dy * z_hat) / n, the cotangent of z is
  dz = s * dy - A - z_hat * B. Both uses of dz are linear, so dz itself is never formed:
    dkernel = s * filter_grad(x, dy) - A * filter_grad(x, 1) - B * filter_grad(x, z_hat),
    dx = input_grad(kernel * s, dy) - sum_c [A_c * input_grad(kernel, 1_c)
                                             + B_c * input_grad(kernel, z_hat_c)],
  where the last two terms use the forward tensors only (computed once when vectorised over many
  cotangents) and enter dx through one matrix product. Compared with differentiating the two
  layers separately this saves a multiply and a subtract over the cotangents per conv-BN pair
  (about 8% of the NB201 NTK's CPU time).
  """
  channels = kernel.shape[-1]
  conv_strides = [1, strides, strides, 1]
  axes = [0, 1, 2]

  @tf.custom_gradient
  def conv_normalize(x, kernel, gamma, beta):
    z = tf.nn.conv2d(x, kernel, conv_strides, padding)
    mean, variance = tf.nn.moments(z, axes)
    inv_std = tf.math.rsqrt(variance + epsilon)
    z_hat = (z - mean) * inv_std
    y = z_hat * gamma + beta
    count = tf.cast(tf.size(z) // channels, z.dtype)

    def filter_grad(cotangent):
      return tf.raw_ops.Conv2DBackpropFilter(
          input=x, filter_sizes=tf.shape(kernel), out_backprop=cotangent, strides=conv_strides,
          padding=padding)

    def input_grad(filters, cotangent, batch):
      sizes = tf.concat([[batch], tf.shape(x)[1:]], 0)
      return tf.raw_ops.Conv2DBackpropInput(
          input_sizes=sizes, filter=filters, out_backprop=cotangent, strides=conv_strides,
          padding=padding)

    def grad(dy, unused_dmean, unused_dvariance):
      del unused_dmean, unused_dvariance  # they feed the moving statistics only
      scale = gamma * inv_std
      eye = tf.eye(channels, dtype=z.dtype)
      # [size(z), 2C] basis [1 (x) I, z_hat (x) I]: one product gives sum(dy), sum(dy * z_hat).
      ones = tf.ones_like(z_hat)
      basis = tf.concat([tf.reshape(ones[..., None] * eye, [-1, channels]),
                         tf.reshape(z_hat[..., None] * eye, [-1, channels])], axis=1)
      sums = tf.matmul(tf.reshape(dy, [1, -1]), basis)[0]
      dbeta, dgamma = sums[:channels], sums[channels:]
      coefficients = sums * tf.tile(scale / count, [2])  # [A, B]
      dkernel = (scale * filter_grad(dy) - coefficients[:channels] * filter_grad(ones)
                 - coefficients[channels:] * filter_grad(z_hat))
      # Input gradients of the fields 1_c (the same for every sample: computed for one, tiled)
      # and z_hat_c, stacked along the batch, as rows of a [2C, size(x)] matrix.
      batch = tf.shape(z)[0]
      image_shape = tf.shape(z)[1:]
      constant_fields = tf.reshape(ones[:1, None] * eye[:, None, None, :],
                                   tf.concat([[channels], image_shape], 0))
      constant_grads = tf.tile(input_grad(kernel, constant_fields, channels)[:, None],
                               [1, batch, 1, 1, 1])
      normal_fields = tf.reshape(z_hat[None] * eye[:, None, None, None, :],
                                 tf.concat([[-1], image_shape], 0))
      normal_grads = input_grad(kernel, normal_fields, channels * batch)
      field_grads = tf.concat([tf.reshape(constant_grads, [channels, -1]),
                               tf.reshape(normal_grads, [channels, -1])], axis=0)
      correction = tf.matmul(coefficients[None], field_grads)
      dx = input_grad(kernel * scale, dy, tf.shape(dy)[0]) - tf.reshape(correction, tf.shape(x))
      return dx, dkernel, dgamma, dbeta

    return (y, mean, variance), grad

  return conv_normalize(x, kernel, gamma, beta)


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class ReLU(keras.layers.ReLU):
  """`keras.layers.ReLU` (plain max(x, 0) only) with a vectorisation-friendly gradient.

  Still a `keras.layers.ReLU`, so `num_linear_regions` records its sign pattern.
  """

  def call(self, inputs):
    if self.max_value is None and not self.negative_slope and not self.threshold:
      return _relu(inputs)
    return super().call(inputs)


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class BatchNorm(keras.layers.BatchNormalization):
  """`keras.layers.BatchNormalization` whose training-mode gradient vectorises well.

  In training mode (batch statistics) it computes exactly what Keras computes, updates the moving
  statistics as Keras does (`moving = momentum * moving + (1 - momentum) * batch`, biased batch
  variance), and differentiates through `_batch_norm_training`. Inference mode, masks,
  synchronised or renormalised BN, layers without centre or scale, and dtypes other than float32
  defer to Keras. A registered subclass, so `ntk_variables` and `initialize` treat it as BN.
  """

  def uses_own_training_path(self, inputs, training, mask=None):
    """Whether `call` normalises with `_batch_norm_training` (batch statistics, plain BN)."""
    return bool(training and self.trainable and mask is None and not self.synchronized
                and not self.renorm and self.center and self.scale
                and self.axis in (-1, len(inputs.shape) - 1) and inputs.dtype == tf.float32
                and self.compute_dtype == "float32")

  def update_moving_statistics(self, mean, variance):
    """Keras' update: moving = momentum * moving + (1 - momentum) * batch (biased variance)."""
    self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
    self.moving_variance.assign(
        self.moving_variance * self.momentum + variance * (1.0 - self.momentum))

  def call(self, inputs, training=None, mask=None):
    if not self.uses_own_training_path(inputs, training, mask):
      return super().call(inputs, training=training, mask=mask)
    outputs, mean, variance = _batch_norm_training(
        inputs, tf.convert_to_tensor(self.gamma), tf.convert_to_tensor(self.beta), self.epsilon)
    self.update_moving_statistics(mean, variance)
    return outputs


def _check_positive_int(name, value):
  if not isinstance(value, int) or isinstance(value, bool) or value < 1:
    raise ValueError(f"{name} must be a positive int; got {value!r}")


class PreActivationConv(keras.layers.Layer):
  """Base of the pre-activation conv blocks: ReLU -> zero-pad -> the subclass's convs and BN.

  The ReLU is a `keras.layers.ReLU` sublayer so that `num_linear_regions` sees its sign pattern.
  Where the first conv's 'same' padding is PyTorch's symmetric padding (stride 1, odd effective
  kernel) the conv pads itself (one pass less over the activations and their gradients);
  otherwise an explicit `ZeroPadding2D` precedes a 'valid' conv. A subclass creates both with
  `_add_relu_and_pad` before its convs (creation order is weight-drawing order), builds them
  with `_build_relu_and_pad` and runs them with `_relu_and_pad`.
  """

  def _add_relu_and_pad(self, padding):
    """`padding`: cells per side, or None where the conv pads 'same' itself."""
    self.relu = ReLU(name="relu")
    self.pad = None if padding is None else keras.layers.ZeroPadding2D(padding, name="pad")

  def _padded_shape(self, input_shape):
    return input_shape if self.pad is None else self.pad.compute_output_shape(input_shape)

  def _build_relu_and_pad(self, input_shape):
    """Builds the ReLU and the padding; returns the first conv's input shape."""
    self.relu.build(input_shape)
    if self.pad is not None:
      self.pad.build(input_shape)
    return self._padded_shape(input_shape)

  def _relu_and_pad(self, inputs):
    x = self.relu(inputs)
    return x if self.pad is None else self.pad(x)


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class ReLUConvBN(PreActivationConv):
  """Pre-activation conv block: ReLU -> zero-pad -> Conv k x k (no bias) -> BN.

  The NB201 `nor_conv_kxk` op and the convs of the ResNet reduction block. At stride 1 with an
  odd kernel the padding is the convolution's own 'same'; otherwise an explicit `ZeroPadding2D`
  (`PreActivationConv`).

  Args:
    filters: output channels.
    kernel_size: odd int; padding is kernel_size // 2 on every side, as in PyTorch.
    strides: 1 or 2.
    init: initialisation scheme, see `tenas_tf.spaces.init.INIT_SCHEMES`.
  """

  def __init__(self, filters, kernel_size, strides=1, init="pytorch_default", **kwargs):
    super().__init__(**kwargs)
    _check_positive_int("filters", filters)
    _check_positive_int("kernel_size", kernel_size)
    _check_positive_int("strides", strides)
    self.filters = filters
    self.kernel_size = kernel_size
    self.strides = strides
    self.init = init_lib.check_init_scheme(init)
    same = strides == 1 and kernel_size % 2 == 1
    self._add_relu_and_pad(None if same else kernel_size // 2)
    self.conv = conv2d(filters, kernel_size, strides, init, padding="same" if same else "valid",
                       name="conv")
    self.bn = batch_norm(name="bn")

  def build(self, input_shape):
    padded = self._build_relu_and_pad(input_shape)
    self.conv.build(padded)
    self.bn.build(self.conv.compute_output_shape(padded))

  def call(self, inputs, training=None):
    x = self._relu_and_pad(inputs)
    # Conv input and output have the same rank and dtype, which is all the BN check looks at.
    fused = (self.bn.uses_own_training_path(x, training)
             and _basis_fits(x.shape, self.filters)
             and _basis_fits(self.conv.compute_output_shape(x.shape), self.filters))
    if not fused:
      return self.bn(self.conv(x), training=training)
    outputs, mean, variance = _conv_batch_norm_training(
        x, tf.convert_to_tensor(self.conv.kernel), tf.convert_to_tensor(self.bn.gamma),
        tf.convert_to_tensor(self.bn.beta), self.strides, self.conv.padding.upper(),
        self.bn.epsilon)
    self.bn.update_moving_statistics(mean, variance)
    return outputs

  def compute_output_shape(self, input_shape):
    return self.conv.compute_output_shape(self._padded_shape(input_shape))

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, kernel_size=self.kernel_size,
                  strides=self.strides, init=self.init)
    return config


@tf.custom_gradient
def _avg_pool_3x3_same(x):
  """3x3 stride-1 mean over in-bounds cells: TensorFlow's 'SAME' average pool excludes padding.

  Gradient: dx = window_sum(dy / count) = avg_pool(dy / count) * count, with count the number of
  in-bounds cells of each window; `AvgPoolGrad` is far slower under pfor.
  """
  def grad(dy):
    ones = tf.ones_like(x[:1, :, :, :1])
    count = 9.0 * tf.nn.avg_pool2d(tf.pad(ones, _PAD_1), 3, 1, "VALID")
    return tf.nn.avg_pool2d(dy / count, 3, 1, "SAME") * count
  return tf.nn.avg_pool2d(x, 3, 1, "SAME"), grad


def strided_shape(input_shape, strides):
  """[B, H, W, C] -> [B, ceil(H / strides), ceil(W / strides), C]; unknown sides stay None.

  The output shape of a 3x3 window with padding 1, and of a 1x1 sample without padding, at
  `strides`: the weightless strided ops (`StridedOp`) and a supernet edge's strided zeros.
  """
  def side(size):
    return None if size is None else (size - 1) // strides + 1
  return (input_shape[0], side(input_shape[1]), side(input_shape[2]), input_shape[3])


class StridedOp(keras.layers.Layer):
  """Base of the weightless ops whose only argument is a stride (pools, strided zeros).

  Holds, validates and serialises `strides`; the output side is ceil(side / strides)
  (`strided_shape`). A subclass implements `call`, and may narrow the strides it accepts.

  Args:
    strides: a positive int.
  """

  def __init__(self, strides=1, **kwargs):
    super().__init__(**kwargs)
    _check_positive_int("strides", strides)
    self.strides = strides

  def compute_output_shape(self, input_shape):
    return strided_shape(input_shape, self.strides)

  def get_config(self):
    config = super().get_config()
    config.update(strides=self.strides)
    return config


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class AvgPool3x3(StridedOp):
  """3x3 average pool, pad 1, padded cells NOT counted (PyTorch `count_include_pad=False`).

  Args:
    strides: 1 or 2.
  """

  def call(self, inputs):
    if self.strides == 1:
      return _avg_pool_3x3_same(inputs)
    # 'SAME' would pad asymmetrically at stride 2: pad explicitly and divide by the cell count.
    window_sum = tf.nn.avg_pool2d(tf.pad(inputs, _PAD_1), 3, self.strides, "VALID")
    ones = tf.ones_like(inputs[:1, :, :, :1])
    valid_fraction = tf.nn.avg_pool2d(tf.pad(ones, _PAD_1), 3, self.strides, "VALID")
    return window_sum / valid_fraction


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class Identity(keras.layers.Layer):
  """`skip_connect` at stride 1 with equal channels."""

  def call(self, inputs):
    return tf.identity(inputs)

  def compute_output_shape(self, input_shape):
    return input_shape


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class Zero(keras.layers.Layer):
  """The `none` op: outputs zeros of the input's shape (no weights, no ReLU)."""

  def call(self, inputs):
    return tf.zeros_like(inputs)

  def compute_output_shape(self, input_shape):
    return input_shape


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class ResNetBlock(keras.layers.Layer):
  """NB201's reduction block between stages.

  ReLUConvBN 3x3 (stride 2) -> ReLUConvBN 3x3, plus a shortcut 2x2 average pool -> 1x1 conv
  (no BN), summed. Reference: TENAS_DETAILS.md section 2.2.

  Args:
    filters: output channels (twice the input channels in NB201).
    init: initialisation scheme.
  """

  def __init__(self, filters, init="pytorch_default", **kwargs):
    super().__init__(**kwargs)
    _check_positive_int("filters", filters)
    self.filters = filters
    self.init = init_lib.check_init_scheme(init)
    self.conv_a = ReLUConvBN(filters, 3, 2, init, name="conv_a")
    self.conv_b = ReLUConvBN(filters, 3, 1, init, name="conv_b")
    self.shortcut_pool = keras.layers.AveragePooling2D(2, 2, padding="valid", name="shortcut_pool")
    self.shortcut_conv = conv2d(filters, 1, 1, init, name="shortcut_conv")

  def build(self, input_shape):
    self.conv_a.build(input_shape)
    mid = self.conv_a.compute_output_shape(input_shape)
    self.conv_b.build(mid)
    pooled = self.shortcut_pool.compute_output_shape(input_shape)
    self.shortcut_conv.build(pooled)

  def call(self, inputs, training=None):
    residual = self.conv_b(self.conv_a(inputs, training=training), training=training)
    return residual + self.shortcut_conv(self.shortcut_pool(inputs))

  def compute_output_shape(self, input_shape):
    return self.conv_a.compute_output_shape(input_shape)[:3] + (self.filters,)

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, init=self.init)
    return config


NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def check_op(op, allowed):
  if op not in allowed:
    raise ValueError(f"op must be one of {tuple(allowed)}; got {op!r}")
  return op


def nb201_op(op, channels, init, name=None):
  """Builds NB201 op `op` (stride 1, `channels` in and out)."""
  check_op(op, NB201_OPS)
  if op == "none":
    return Zero(name=name)
  if op == "skip_connect":
    return Identity(name=name)
  if op == "avg_pool_3x3":
    return AvgPool3x3(1, name=name)
  return ReLUConvBN(channels, 1 if op == "nor_conv_1x1" else 3, 1, init, name=name)
