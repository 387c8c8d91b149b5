"""Gradients of ReLU, batch normalisation, conv + BN and average pooling that vectorise under pfor.

The NTK indicator differentiates the indicator networks once per sample of the batch, vectorised
by pfor (`tape.jacobian`). TensorFlow's own gradients of ReLU, batch normalisation and average
pooling vectorise badly there (pfor tiles the forward activations once per cotangent, or
transposes the cotangents). The functions here compute the same values with hand-written
gradients built from broadcasts, matrix products and convolutions only: few passes over the
[cotangents, batch, H, W, C] tensors, which are what the NTK's time goes into. They equal
TensorFlow's gradients up to float32 rounding; the layers of `tenas_tf.spaces.ops` call them.
See `tenas_tf.spaces.depthwise` for the depthwise convolutions of the DARTS space.
Reference: TE-NAS (Chen et al., ICLR 2021) section 3.1 (the NTK, a Gram matrix of per-sample
Jacobians).
"""

import tensorflow as tf

PAD_1 = [[0, 0], [1, 1], [1, 1], [0, 0]]  # one zero cell on each side of H and W


@tf.custom_gradient
def relu(x):
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
MAX_BASIS_ENTRIES = 1 << 23


def basis_fits(shape, channels):
  """Whether a [size, 2 * channels] basis for a tensor of static `shape` stays small."""
  size = tf.TensorShape(shape).num_elements()
  return size is not None and size * 2 * channels <= MAX_BASIS_ENTRIES


def statistics_basis(x_hat, channels):
  """The [size, 2C] basis [1 (x) I, x_hat (x) I] of a normalised tensor: one matrix product of a
  flat cotangent dy with it gives the per-channel sum(dy) and sum(dy * x_hat)."""
  eye = tf.eye(channels, dtype=x_hat.dtype)
  return tf.concat([tf.reshape(tf.ones_like(x_hat)[..., None] * eye, [-1, channels]),
                    tf.reshape(x_hat[..., None] * eye, [-1, channels])], axis=1)


def batch_norm_training(x, gamma, beta, epsilon):
  """Batch-statistics BatchNorm over all axes but the last: returns (y, mean, variance).

  Same values as `tf.nn.batch_normalization` with `tf.nn.moments` (biased variance). The
  gradient is written so that, vectorised over many cotangents, it makes few passes over them:
  with xhat = (x - mean) / sqrt(variance + epsilon) and n values per channel,
    dbeta = sum(dy), dgamma = sum(dy * xhat),
    dx = gamma / sqrt(variance + epsilon) * (dy - (dbeta + xhat * dgamma) / n).
  When the basis [1 (x) I, xhat (x) I] ([size, 2C]) is small (`basis_fits`), both sums come
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
      if not basis_fits(x.shape, channels):
        dbeta = tf.reduce_sum(dy, axes)
        dgamma = tf.reduce_sum(dy * x_hat, axes)
        dx = scale * (dy - (dbeta + x_hat * dgamma) / count)
        return dx, dgamma, dbeta
      basis = statistics_basis(x_hat, channels)
      sums = tf.matmul(tf.reshape(dy, [1, -1]), basis)[0]  # [2C]: dbeta, dgamma
      dbeta, dgamma = sums[:channels], sums[channels:]
      coefficients = sums * tf.tile(scale / count, [2])
      correction = tf.matmul(coefficients[None], basis, transpose_b=True)
      dx = dy * scale - tf.reshape(correction, tf.shape(dy))
      return dx, dgamma, dbeta

    return (y, mean, variance), grad

  return normalize(x, gamma, beta)


def conv_batch_norm_training(x, kernel, gamma, beta, strides, padding, epsilon):
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
      ones = tf.ones_like(z_hat)
      sums = tf.matmul(tf.reshape(dy, [1, -1]), statistics_basis(z_hat, channels))[0]
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


@tf.custom_gradient
def avg_pool_3x3_same(x):
  """3x3 stride-1 mean over in-bounds cells: TensorFlow's 'SAME' average pool excludes padding.

  Gradient: dx = window_sum(dy / count) = avg_pool(dy / count) * count, with count the number of
  in-bounds cells of each window; `AvgPoolGrad` is far slower under pfor.
  """
  def grad(dy):
    ones = tf.ones_like(x[:1, :, :, :1])
    count = 9.0 * tf.nn.avg_pool2d(tf.pad(ones, PAD_1), 3, 1, "VALID")
    return tf.nn.avg_pool2d(dy / count, 3, 1, "SAME") * count
  return tf.nn.avg_pool2d(x, 3, 1, "SAME"), grad
