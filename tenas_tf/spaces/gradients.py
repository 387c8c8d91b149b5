"""Which gradients the layers of the spaces use: the hand-written ones, or TensorFlow's own.

The NTK's traced Jacobian (`ntk_gram(method="pfor")`) runs through gradients written for pfor (`pfor_gradients`: ReLU,
batch norm, conv + batch norm, the 3x3 average pool; `depthwise`: the depthwise conv). A test
that compares it with a per-sample loop running through the same gradients cannot see a mistake
in them. Inside `tensorflow_gradients()` the layers of `ops` and `darts_ops` compute the same
values with plain TensorFlow and Keras ops (`keras.layers.ReLU`, `keras.layers.BatchNormalization`,
`keras.layers.Conv2D`, `tf.nn.avg_pool2d`, `keras.ops.depthwise_conv`), differentiated by
TensorFlow's own gradients: an oracle that shares no gradient code with the library. It is slow
under pfor (the reason the hand-written gradients exist); use it for tests, not for searches.

The switch is read when a layer is called, which for a `tf.function` means when it is traced:
a function traced outside the switch keeps the hand-written gradients inside it, and the
reverse. Eager calls (e.g. `indicators.ntk_gram(..., method="loop")`) see it on every call.
"""

import contextlib
import threading

_STATE = threading.local()


def hand_written_gradients():
  """Whether the layers use the hand-written gradients: True except inside
  `tensorflow_gradients()` (in the calling thread)."""
  return not getattr(_STATE, "tensorflow", False)


@contextlib.contextmanager
def tensorflow_gradients():
  """Within this context the layers of the spaces use plain TensorFlow ops and TensorFlow's
  gradients instead of the hand-written ones (see the module docstring): the independent oracle
  of the tests. Thread-local; nests.

  Example:
    >>> with tensorflow_gradients():
    ...   oracle = indicators.ntk_gram(net, images, method="loop")
  """
  previous = getattr(_STATE, "tensorflow", False)
  _STATE.tensorflow = True
  try:
    yield
  finally:
    _STATE.tensorflow = previous
