"""The pfor-friendly depthwise conv against TensorFlow's own op and gradients."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from tenas_tf.spaces import depthwise

# (kernel size, strides, dilation, padding): every DARTS sep/dil conv geometry, plus odd sizes.
_GEOMETRIES = ((3, 1, 1, 1), (5, 1, 1, 2), (3, 1, 2, 2), (5, 1, 2, 4), (3, 2, 1, 1), (5, 2, 1, 2),
               (3, 2, 2, 2), (5, 2, 2, 4), (3, 1, 1, 0))


def _reference(x, kernel, strides, dilation, padding):
  """TensorFlow's depthwise conv on the padded input; stride and dilation as PyTorch."""
  x = tf.pad(x, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
  y = tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "VALID", dilations=[dilation, dilation])
  return y[:, ::strides, ::strides, :]


class DepthwiseTest(tf.test.TestCase, parameterized.TestCase):

  def _inputs(self, size, height=9, channels=2):
    rng = np.random.default_rng(size)
    x = tf.constant(rng.standard_normal((3, height, height + 1, channels)), tf.float32)
    kernel = tf.constant(rng.standard_normal((size, size, channels, 1)), tf.float32)
    return x, kernel

  @parameterized.parameters(*_GEOMETRIES)
  def test_values_and_gradients_equal_tensorflows(self, size, strides, dilation, padding):
    self._check_against_tensorflow(size, strides, dilation, padding, channels=2)

  def test_wide_layers_equal_tensorflows_too(self):
    # Above MAX_VECTORISED_CHANNELS TensorFlow's own gradient is used.
    self._check_against_tensorflow(3, 2, 1, 1, depthwise.MAX_VECTORISED_CHANNELS + 1)

  def _check_against_tensorflow(self, size, strides, dilation, padding, channels):
    x, kernel = self._inputs(size, channels=channels)
    with tf.GradientTape(persistent=True) as tape:
      tape.watch([x, kernel])
      ours = depthwise.depthwise_conv2d(x, kernel, strides, dilation, padding)
      theirs = _reference(x, kernel, strides, dilation, padding)
    self.assertAllClose(ours, theirs, atol=1e-5)
    cotangent = tf.constant(np.random.default_rng(7).standard_normal(theirs.shape), tf.float32)
    ours_grad = tape.gradient(ours, [x, kernel], output_gradients=cotangent)
    theirs_grad = tape.gradient(theirs, [x, kernel], output_gradients=cotangent)
    for mine, reference in zip(ours_grad, theirs_grad):
      self.assertAllClose(mine, reference, atol=1e-4, rtol=1e-5)

  def test_matches_pytorch_output_size(self):
    # PyTorch: floor((H + 2p - d (k - 1) - 1) / s) + 1, H=9 and W=10, k=5, s=2, d=2, p=4 -> 5 and 5.
    x, kernel = self._inputs(5)
    y = depthwise.depthwise_conv2d(x, kernel, strides=2, dilation_rate=2, padding=4)
    self.assertEqual(y.shape, (3, 5, 5, 2))

  def test_gradient_vectorises_without_a_while_loop(self):
    # TensorFlow's own depthwise gradients have no pfor converter; ours must not need one.
    x, kernel = self._inputs(3)
    cotangents = tf.constant(np.random.default_rng(1).standard_normal((4, 3, 5, 5, 2)),
                             tf.float32)

    def per_cotangent_gradients(conv):
      @tf.function
      def run():
        with tf.GradientTape(persistent=True) as tape:
          tape.watch([x, kernel])
          y = conv(x, kernel, 2, 2, 2)
        return tf.vectorized_map(
            lambda dy: tape.gradient(y, [x, kernel], output_gradients=dy), cotangents,
            fallback_to_while_loop=False)
      return run()

    ours = per_cotangent_gradients(depthwise.depthwise_conv2d)
    with self.assertRaises(ValueError):
      per_cotangent_gradients(_reference)
    for i in range(cotangents.shape[0]):
      with tf.GradientTape() as tape:
        tape.watch([x, kernel])
        y = _reference(x, kernel, 2, 2, 2)
      expected = tape.gradient(y, [x, kernel], output_gradients=cotangents[i])
      self.assertAllClose(ours[0][i], expected[0], atol=1e-4)
      self.assertAllClose(ours[1][i], expected[1], atol=1e-4)


if __name__ == "__main__":
  tf.test.main()
