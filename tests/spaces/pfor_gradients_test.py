"""The hand-written gradients of `pfor_gradients` against TensorFlow's gradients of the same
computations written with plain TensorFlow ops (the NTK tests run both of their sides through
the hand-written gradients, so only these tests can see a mistake in them)."""

from unittest import mock

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from tenas_tf.spaces import pfor_gradients
from tests import testing_utils

_EPSILON = 1e-5
_COTANGENTS = 3  # cotangents of the vectorised checks


def _normal(seed, shape):
  return tf.constant(np.random.default_rng(seed).standard_normal(shape), tf.float32)


def _reference_batch_norm(x, gamma, beta):
  """Batch-statistics BN with TensorFlow's moments and normalisation (biased variance)."""
  mean, variance = tf.nn.moments(x, [0, 1, 2])
  return tf.nn.batch_normalization(x, mean, variance, beta, gamma, _EPSILON)


def _window_sums_3x3(x):
  """Sums over the in-bounds cells of each 3x3 stride-1 window: nine shifted slices of `x`
  zero-padded by one cell."""
  height, width = x.shape[1], x.shape[2]
  padded = tf.pad(x, pfor_gradients.PAD_1)
  return tf.add_n([padded[:, i:i + height, j:j + width, :] for i in range(3) for j in range(3)])


def _reference_avg_pool(x):
  """3x3 stride-1 mean over in-bounds cells, as window sums / cell counts (no pooling op)."""
  return _window_sums_3x3(x) / _window_sums_3x3(tf.ones_like(x))


def _batch_norm_case(seed, shape):
  channels = shape[-1]
  inputs = [_normal(seed, shape), 1.0 + 0.5 * _normal(seed + 1, [channels]),
            _normal(seed + 2, [channels])]
  ours = lambda x, gamma, beta: pfor_gradients.batch_norm_training(x, gamma, beta, _EPSILON)[0]
  return ours, _reference_batch_norm, inputs


def _conv_batch_norm_case(seed, kernel_size, strides, padding):
  inputs = [_normal(seed, [3, 7, 8, 2]), _normal(seed + 1, [kernel_size, kernel_size, 2, 3]),
            1.0 + 0.5 * _normal(seed + 2, [3]), _normal(seed + 3, [3])]

  def ours(x, kernel, gamma, beta):
    return pfor_gradients.conv_batch_norm_training(x, kernel, gamma, beta, strides, padding,
                                                   _EPSILON)[0]

  def reference(x, kernel, gamma, beta):
    return _reference_batch_norm(tf.nn.conv2d(x, kernel, strides, padding), gamma, beta)

  return ours, reference, inputs


# name -> () -> (hand-written function, reference, inputs): every input is differentiated.
# The conv geometries are those of `ops.ReLUConvBN`: 'SAME' at stride 1 with an odd kernel,
# otherwise 'VALID' after explicit padding.
_CASES = {
    "relu": lambda: (pfor_gradients.relu, tf.nn.relu, [_normal(0, [3, 5, 6, 2])]),
    "batch_norm": lambda: _batch_norm_case(10, [4, 5, 6, 3]),
    "batch_norm_one_channel": lambda: _batch_norm_case(20, [3, 4, 5, 1]),
    "conv_batch_norm_1x1_stride_1": lambda: _conv_batch_norm_case(30, 1, 1, "SAME"),
    "conv_batch_norm_3x3_stride_1": lambda: _conv_batch_norm_case(40, 3, 1, "SAME"),
    "conv_batch_norm_1x1_stride_2": lambda: _conv_batch_norm_case(50, 1, 2, "VALID"),
    "conv_batch_norm_3x3_stride_2": lambda: _conv_batch_norm_case(60, 3, 2, "VALID"),
    "conv_batch_norm_3x3_stride_1_valid": lambda: _conv_batch_norm_case(70, 3, 1, "VALID"),
    "avg_pool_3x3_same": lambda: (pfor_gradients.avg_pool_3x3_same, _reference_avg_pool,
                                  [_normal(80, [3, 5, 6, 2])]),
}
# Batch norm has two gradient paths (`basis_fits`): a matrix basis, and elementwise sums; the
# tests force each. Parameters: (test name suffix, case, basis path forced on / off or None).
_BATCH_NORM_CASES = ("batch_norm", "batch_norm_one_channel")
_PARAMETERS = ([(name, name, None) for name in _CASES if name not in _BATCH_NORM_CASES]
               + [(f"{name}_{path}", name, fits) for name in _BATCH_NORM_CASES
                  for path, fits in (("basis", True), ("elementwise", False))])


def _gradients(function, inputs, cotangent):
  with tf.GradientTape() as tape:
    tape.watch(inputs)
    outputs = function(*inputs)
  return tape.gradient(outputs, inputs, output_gradients=cotangent)


class PforGradientsTest(parameterized.TestCase, tf.test.TestCase):

  def _case(self, name, basis_fits):
    """The case's functions and inputs, with batch norm forced onto the path `basis_fits`
    (None: the function has one path)."""
    ours, reference, inputs = _CASES[name]()
    if basis_fits is False:
      self.enter_context(mock.patch.object(pfor_gradients, "MAX_BASIS_ENTRIES", 0))
    if basis_fits is not None:
      self.assertEqual(pfor_gradients.basis_fits(inputs[0].shape, inputs[0].shape[-1]),
                       basis_fits)
    return ours, reference, inputs

  def _assert_close(self, actual, expected):
    # The two sides sum in different orders: absolute errors scale with the largest entry.
    scale = float(np.max(np.abs(expected)))
    tolerance = testing_utils.tolerance(np.float32)
    self.assertAllClose(actual, expected, rtol=tolerance["rtol"], atol=tolerance["rtol"] * scale)

  @parameterized.named_parameters(*_PARAMETERS)
  def test_values_and_gradients_equal_tensorflows(self, name, basis_fits):
    ours, reference, inputs = self._case(name, basis_fits)
    expected = reference(*inputs)
    self._assert_close(ours(*inputs), expected)
    cotangent = _normal(1, expected.shape)
    for mine, theirs in zip(_gradients(ours, inputs, cotangent),
                            _gradients(reference, inputs, cotangent)):
      self._assert_close(mine, theirs)

  @parameterized.named_parameters(*_PARAMETERS)
  def test_vectorised_gradients_equal_a_loop_of_tensorflows(self, name, basis_fits):
    # What the NTK's tape.jacobian does: pfor over many cotangents of one forward pass, here
    # without the while-loop fallback (the reason these gradients exist).
    ours, reference, inputs = self._case(name, basis_fits)
    cotangents = _normal(2, [_COTANGENTS] + reference(*inputs).shape.as_list())

    @tf.function
    def vectorised():
      with tf.GradientTape(persistent=True) as tape:
        tape.watch(inputs)
        outputs = ours(*inputs)
      return tf.vectorized_map(
          lambda dy: tape.gradient(outputs, inputs, output_gradients=dy), cotangents,
          fallback_to_while_loop=False)

    batched = vectorised()
    for i in range(_COTANGENTS):
      for mine, theirs in zip(batched, _gradients(reference, inputs, cotangents[i])):
        self._assert_close(mine[i], theirs)

  def test_tensorflows_same_avg_pool_excludes_padding(self):
    # `ops.AvgPool3x3` uses it under `gradients.tensorflow_gradients()`.
    x = _normal(3, [2, 4, 5, 3])
    pool = lambda x: tf.nn.avg_pool2d(x, 3, 1, "SAME")
    self._assert_close(pool(x), _reference_avg_pool(x))
    cotangent = _normal(4, x.shape)
    self._assert_close(_gradients(pool, [x], cotangent)[0],
                       _gradients(_reference_avg_pool, [x], cotangent)[0])


if __name__ == "__main__":
  tf.test.main()
