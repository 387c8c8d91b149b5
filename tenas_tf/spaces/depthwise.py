"""A depthwise convolution whose gradient vectorises under pfor (the NTK's `tape.jacobian`).

pfor vectorises TensorFlow's depthwise-conv ops only when the kernel, too, varies per iteration;
with the network's one kernel it falls back to a while loop that runs
`DepthwiseConv2dNativeBackpropInput` / `...BackpropFilter` once per cotangent (on the DARTS NTK
supernet, 196 sep/dil convs at batch 14, 4,564 such runs per two kappas, 70 % of the CPU time).
For the narrow layers of the indicator nets the gradient is instead that of the equivalent dense
conv with the block-diagonal kernel, whose `Conv2DBackpropInput` / `Conv2DBackpropFilter` pfor
vectorises in one op each (C times the depthwise work, nothing for C = 1 or 2), restricted to the
diagonal; a stride s > 1 is a stride-1 conv followed by taking every s-th output. Measured on the
DARTS NTK supernet (all ops alive, batch 14): 1.5 s of CPU per kappa instead of 2.0 s. Wider
layers (a retrained network's), and every layer inside `gradients.tensorflow_gradients()` (the
tests' oracle), use Keras' depthwise conv and TensorFlow's gradient unchanged.
Values and gradients equal TensorFlow's up to float32 rounding.
Reference: DARTS (Liu et al., ICLR 2019) section 3.1 (sep_conv / dil_conv); TE-NAS (Chen et al.,
ICLR 2021) section 3.1 (the NTK, a Gram matrix of per-sample Jacobians).
"""

import keras
import tensorflow as tf

from tenas_tf.spaces import gradients

# Layers with more channels than this use TensorFlow's depthwise gradient (see the docstring).
MAX_VECTORISED_CHANNELS = 8


def _valid_depthwise(x, kernel, dilation):
  """Stride-1 'valid' depthwise conv of `x` [B, H, W, C] with `kernel` [k, k, C, 1]."""
  size = int(kernel.shape[0])
  channels = int(kernel.shape[2])
  dilations = [dilation, dilation]
  @tf.custom_gradient
  def conv(x, kernel):
    y = tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "VALID", dilations=dilations)

    def grad(dy):
      # The depthwise conv is the dense conv with the block-diagonal kernel; its gradients are
      # the dense conv's (vectorised by pfor), restricted to the diagonal.
      dense_kernel = kernel * tf.eye(channels)
      dx = tf.raw_ops.Conv2DBackpropInput(
          input_sizes=tf.shape(x), filter=dense_kernel, out_backprop=dy, strides=[1, 1, 1, 1],
          padding="VALID", dilations=[1, dilation, dilation, 1])
      dense_dkernel = tf.raw_ops.Conv2DBackpropFilter(
          input=x, filter_sizes=tf.shape(dense_kernel), out_backprop=dy, strides=[1, 1, 1, 1],
          padding="VALID", dilations=[1, dilation, dilation, 1])
      return dx, tf.linalg.diag_part(dense_dkernel)[..., None]

    return y, grad

  return conv(x, kernel)


def depthwise_conv2d(inputs, kernel, strides=1, dilation_rate=1, padding=0):
  """Depthwise conv (channel multiplier 1) with PyTorch's symmetric zero padding.

  Args:
    inputs: [B, H, W, C] float tensor.
    kernel: [k, k, C, 1], e.g. a `keras.layers.DepthwiseConv2D`'s kernel.
    strides: int >= 1, the same along H and W.
    dilation_rate: int >= 1.
    padding: zero cells added on each side of H and W before the 'valid' window.

  Returns:
    [B, H', W', C] with H' = floor((H + 2 padding - dilation (k - 1) - 1) / strides) + 1, as
    PyTorch's `Conv2d(groups=C)`.

  Example:
    >>> depthwise_conv2d(tf.zeros([2, 8, 8, 4]), tf.ones([3, 3, 4, 1]), padding=1).shape
    TensorShape([2, 8, 8, 4])
  """
  x = inputs
  # A tensor, not the layer's variable: the custom gradient then returns dkernel for its read.
  kernel = tf.convert_to_tensor(kernel)
  if padding:
    x = tf.pad(x, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
  if int(kernel.shape[2]) > MAX_VECTORISED_CHANNELS or not gradients.hand_written_gradients():
    return keras.ops.depthwise_conv(x, kernel, strides, "valid", dilation_rate=dilation_rate)
  y = _valid_depthwise(x, kernel, dilation_rate)
  return y[:, ::strides, ::strides, :] if strides > 1 else y
