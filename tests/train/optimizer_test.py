"""PyTorchSGD against a numpy transcription of `torch.optim.SGD`'s documented update."""

import math

from absl.testing import absltest
from absl.testing import parameterized
import keras
import numpy as np

from tenas_tf.train import optimizer as optimizer_lib
from tests import testing_utils

STEPS = 6
LR, MOMENTUM, L2 = 0.1, 0.9, 5e-2


def _cosine(step):
  return 0.5 * LR * (1.0 + math.cos(math.pi * step / STEPS))


def _torch_sgd(w, grad_fn, nesterov):
  """torch.optim.SGD (dampening 0), step by step, as its documentation writes it."""
  buf = None
  for step in range(STEPS):
    g = grad_fn(w) + L2 * w
    buf = g.copy() if buf is None else MOMENTUM * buf + g
    direction = g + MOMENTUM * buf if nesterov else buf
    w = w - _cosine(step) * direction
  return w


class PyTorchSGDTest(parameterized.TestCase):

  @parameterized.parameters(True, False)
  def test_matches_torch_sgd_with_a_changing_learning_rate(self, nesterov):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4))
    a = a @ a.T + np.eye(4)
    b = rng.normal(size=4)
    w0 = rng.normal(size=4)
    grad_fn = lambda w: a @ w - b  # gradient of 0.5 w'Aw - b'w
    expected = _torch_sgd(w0.copy(), grad_fn, nesterov)

    variable = keras.Variable(w0.astype("float32"))
    optimizer = optimizer_lib.PyTorchSGD(
        keras.optimizers.schedules.CosineDecay(LR, STEPS), momentum=MOMENTUM,
        nesterov=nesterov, l2=L2)
    for _ in range(STEPS):
      gradient = grad_fn(variable.numpy().astype(np.float64)).astype("float32")
      optimizer.apply_gradients([(gradient, variable)])
    np.testing.assert_allclose(variable.numpy(), expected, **testing_utils.tolerance(np.float32))

  def test_differs_from_keras_decoupled_weight_decay(self):
    variable = keras.Variable(np.ones(3, "float32"))
    keras_variable = keras.Variable(np.ones(3, "float32"))
    ours = optimizer_lib.PyTorchSGD(0.1, momentum=0.9, l2=0.1)
    theirs = keras.optimizers.SGD(0.1, momentum=0.9, weight_decay=0.1)
    for _ in range(3):
      ours.apply_gradients([(np.zeros(3, "float32"), variable)])
      theirs.apply_gradients([(np.zeros(3, "float32"), keras_variable)])
    # Coupled decay goes through the momentum: w = 0.99, 0.9711, 0.944379 (buffers 0.1, 0.189,
    # 0.26721); Keras's decoupled decay shrinks w by lr * wd = 1 % per step: 0.99 ** 3.
    np.testing.assert_allclose(variable.numpy(), 0.944379, rtol=1e-6)
    np.testing.assert_allclose(keras_variable.numpy(), 0.99**3, rtol=1e-6)

  def test_config_round_trip_and_errors(self):
    optimizer = optimizer_lib.PyTorchSGD(0.05, momentum=0.9, nesterov=True, l2=5e-4)
    copy = optimizer_lib.PyTorchSGD.from_config(optimizer.get_config())
    self.assertEqual((copy.l2, copy.momentum, copy.nesterov), (5e-4, 0.9, True))
    self.assertNotIn("weight_decay", optimizer.get_config())
    with self.assertRaisesRegex(ValueError, "l2 must be a float >= 0; got -1"):
      optimizer_lib.PyTorchSGD(l2=-1)
    with self.assertRaisesRegex(ValueError, "takes its .coupled. weight decay as l2; got "
                                            "weight_decay=0.1"):
      optimizer_lib.PyTorchSGD(weight_decay=0.1)


if __name__ == "__main__":
  absltest.main()
