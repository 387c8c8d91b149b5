"""SGD as the NB201 / DARTS reference code runs it (PyTorch's `torch.optim.SGD`).

Two differences from `keras.optimizers.SGD` matter for reproducing their recipes:
- weight decay is coupled L2: `wd * w` is added to the gradient BEFORE the momentum, so it is
  amplified by 1 / (1 - momentum) like the gradient (Keras's `weight_decay` is decoupled:
  `w -= lr * wd * w` outside the momentum, i.e. ten times weaker at momentum 0.9). It applies to
  every trainable variable, BatchNorm's gamma and beta and the classifier bias included, as the
  reference passes all `model.parameters()` to its optimizer.
- the momentum buffer holds raw gradients and the learning rate multiplies the whole step, so a
  change of learning rate (the cosine schedule) takes effect at once; Keras folds the rate into
  its buffer. The two agree exactly at constant learning rate.
"""

import keras
from keras import ops

_SERIAL_PACKAGE = "tenas_tf"


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class PyTorchSGD(keras.optimizers.SGD):
  """`torch.optim.SGD` (dampening 0): coupled L2 weight decay, momentum, Nesterov.

  Per variable w with gradient g, learning rate lr, momentum mu and weight decay wd:
    g <- g + wd * w;  buf <- mu * buf + g;  w <- w - lr * (g + mu * buf if nesterov else buf).

  Args:
    learning_rate: float or `keras.optimizers.schedules.LearningRateSchedule`.
    momentum: mu, float >= 0.
    nesterov: whether to use Nesterov momentum.
    l2: wd, the coupled weight decay (PyTorch's `weight_decay`), float >= 0; 5e-4 in NB201.
    **kwargs: other `keras.optimizers.Optimizer` arguments (e.g. `name`). Keras's own
      decoupled `weight_decay` is refused, so the two cannot be mixed up.

  Raises:
    ValueError: if `l2` is negative or `weight_decay` is given.

  Example:
    >>> optimizer = PyTorchSGD(keras.optimizers.schedules.CosineDecay(0.1, 200 * 196),
    ...                        momentum=0.9, nesterov=True, l2=5e-4)

  Reference: NB201 (Dong & Yang, ICLR 2020) section 2.3; PyTorch `torch.optim.SGD`.
  """

  def __init__(self, learning_rate=0.1, momentum=0.9, nesterov=False, l2=0.0, **kwargs):
    if kwargs.get("weight_decay") is not None:
      raise ValueError("PyTorchSGD takes its (coupled) weight decay as l2; got weight_decay="
                       f"{kwargs['weight_decay']!r}")
    kwargs.pop("weight_decay", None)
    if isinstance(l2, bool) or not isinstance(l2, (int, float)) or l2 < 0:
      raise ValueError(f"l2 must be a float >= 0; got {l2!r}")
    super().__init__(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov,
                     **kwargs)
    self.l2 = float(l2)

  def update_step(self, gradient, variable, learning_rate):
    learning_rate = ops.cast(learning_rate, variable.dtype)
    gradient = ops.cast(gradient, variable.dtype)
    if self.l2:
      gradient = ops.add(gradient, ops.multiply(ops.cast(self.l2, variable.dtype), variable))
    if self.momentum == 0:
      self.assign_sub(variable, ops.multiply(gradient, learning_rate))
      return
    momentum = ops.cast(self.momentum, variable.dtype)
    buffer = self.momentums[self._get_variable_index(variable)]
    new_buffer = ops.add(ops.multiply(buffer, momentum), gradient)
    self.assign(buffer, new_buffer)
    step = ops.add(gradient, ops.multiply(new_buffer, momentum)) if self.nesterov else new_buffer
    self.assign_sub(variable, ops.multiply(step, learning_rate))

  def get_config(self):
    config = super().get_config()
    config.pop("weight_decay", None)
    config.update(l2=self.l2)
    return config
