"""The parts of DARTS' evaluation networks around the cells: the stems and the auxiliary heads.

DARTS evaluates a genotype in two skeletons (Liu et al., DARTS (ICLR 2019) appendix A.2; its
`model.py`), chosen here by `variant`:
- "cifar": one stem, conv 3x3 (3 -> 3C) + BN, whose output is both inputs of the first cell;
  auxiliary head on an 8x8 map: ReLU, 5x5 average pool stride 3 (-> 2x2), 1x1 conv 128 + BN +
  ReLU, 2x2 conv 768 + BN + ReLU, dense.
- "imagenet": two stems for 224x224 images, stem0 = conv 3x3 s2 (3 -> C/2) + BN + ReLU + conv 3x3
  s2 (-> C) + BN and stem1 = ReLU + conv 3x3 s2 + BN on stem0's output, feeding the first cell's
  two inputs (28x28); auxiliary head on a 7x7 map: as CIFAR's with a stride-2 pool and without the
  BN after the 2x2 conv (DARTS left it out of its ImageNet runs and kept it out for consistency
  with its paper's numbers).
Convs have no bias; padding is PyTorch's (symmetric, explicit at stride 2).
"""

import keras
from keras import ops as kops

from tenas_tf import checks
from tenas_tf.spaces import init as init_lib
from tenas_tf.spaces import ops as ops_lib

_SERIAL_PACKAGE = "tenas_tf"
VARIANTS = ("cifar", "imagenet")
# The CIFAR stem's width in units of C (DARTS' `stem_multiplier`).
CIFAR_STEM_MULTIPLIER = 3
# Width of the auxiliary head's two convolutions.
AUXILIARY_CHANNELS = (128, 768)
_AUXILIARY_POOL_STRIDES = {"cifar": 3, "imagenet": 2}


def check_variant(variant):
  """`variant` if it is one of `VARIANTS`; raises ValueError naming it otherwise."""
  return checks.one_of("variant", variant, VARIANTS)


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class DartsStem(keras.layers.Layer):
  """The stem of a DARTS evaluation network: images -> the first cell's two inputs [s0, s1].

  Args:
    channels: C, the first cell's node width.
    variant: "cifar" (s0 = s1 = BN(conv3x3(x)), 3C channels, full resolution) or "imagenet"
      (s0 = stem0(x), s1 = stem1(s0), C channels at 1/4 and 1/8 of the image side).
    init: initialisation scheme, `tenas_tf.spaces.init.INIT_SCHEMES`.

  Call args:
    inputs: float [B, H, W, 3] normalised images.
    training: BatchNorm mode.

  Returns:
    [s0, s1]: cifar: twice the same [B, H, W, 3C]; imagenet: [B, H/4, W/4, C] and
    [B, H/8, W/8, C] (sides rounded up).

  Raises:
    ValueError: an unknown variant, or `channels` not an int >= 1 (even for "imagenet",
      whose stem0 first gives C/2 channels).

  Example:
    >>> [s.shape for s in DartsStem(48, "imagenet")(tf.zeros([2, 224, 224, 3]))]
    [TensorShape([2, 56, 56, 48]), TensorShape([2, 28, 28, 48])]

  Reference: Liu et al., DARTS (ICLR 2019) appendix A.2 (`NetworkCIFAR`, `NetworkImageNet`).
  """

  def __init__(self, channels, variant="cifar", init="pytorch_default", **kwargs):
    super().__init__(**kwargs)
    self.channels = checks.integer("channels", channels, 1)
    self.variant = check_variant(variant)
    self.init = init_lib.check_init_scheme(init)
    if variant == "cifar":
      # 'same' at stride 1 is PyTorch's symmetric padding 1 for a 3x3 kernel.
      self.stem0 = [ops_lib.conv2d(CIFAR_STEM_MULTIPLIER * channels, 3, 1, init, padding="same",
                                   name="conv"),
                    ops_lib.batch_norm(name="bn")]
      self.stem1 = []
    else:
      if channels % 2:
        raise ValueError(f"channels must be even for variant 'imagenet' (its stem first gives "
                         f"channels / 2); got {channels}")
      self.stem0 = [keras.layers.ZeroPadding2D(1, name="stem0_pad"),
                    ops_lib.conv2d(channels // 2, 3, 2, init, name="stem0_conv"),
                    ops_lib.batch_norm(name="stem0_bn"),
                    ops_lib.ReLUConvBN(channels, 3, 2, init, name="stem0_relu_conv_bn")]
      self.stem1 = [ops_lib.ReLUConvBN(channels, 3, 2, init, name="stem1")]

  @staticmethod
  def _chain_shape(layers, shape, build=False):
    """The output shape of `layers` applied in turn to `shape`, building them if `build`."""
    for layer in layers:
      if build:
        layer.build(shape)
      shape = layer.compute_output_shape(shape)
    return shape

  @staticmethod
  def _run_chain(layers, x, training):
    for layer in layers:
      x = layer(x, training=training)  # Keras passes `training` on only to layers that take it
    return x

  def build(self, input_shape):
    self._chain_shape(self.stem1, self._chain_shape(self.stem0, tuple(input_shape), True), True)

  def call(self, inputs, training=None):
    s0 = self._run_chain(self.stem0, inputs, training)
    return [s0, self._run_chain(self.stem1, s0, training)]

  def compute_output_shape(self, input_shape):
    s0 = self._chain_shape(self.stem0, tuple(input_shape))
    return [s0, self._chain_shape(self.stem1, s0)]

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels, variant=self.variant, init=self.init)
    return config


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class AuxiliaryHead(keras.layers.Layer):
  """DARTS' auxiliary classifier on the output of the cell at 2/3 of the depth (training only).

  ReLU -> 5x5 average pool (stride 3 "cifar", 2 "imagenet"; no padding) -> 1x1 conv 128 + BN +
  ReLU -> 2x2 conv 768 (no padding) [+ BN for "cifar"] + ReLU -> flatten -> dense. At DARTS' image
  sizes (an 8x8 or 7x7 input map) the 2x2 conv leaves 1x1, so the dense layer sees 768 features
  as in DARTS; larger maps give it more.

  Args:
    num_classes: number of logits.
    variant: "cifar" or "imagenet" (see the module docstring).
    init: initialisation scheme.

  Call args:
    inputs: [B, H, W, C'] the cell output, H and W such that the pool leaves at least 2x2.
    training: BatchNorm mode.

  Returns:
    float logits [B, num_classes].

  Raises:
    ValueError: an unknown variant, or (when built) an input map too small for the 2x2 conv.

  Example:
    >>> AuxiliaryHead(10)(tf.zeros([2, 8, 8, 576])).shape
    TensorShape([2, 10])

  Reference: Liu et al., DARTS (ICLR 2019) section 3.3 and its `AuxiliaryHeadCIFAR` /
  `AuxiliaryHeadImageNet`; Szegedy et al., Going deeper with convolutions (auxiliary towers).
  """

  def __init__(self, num_classes, variant="cifar", init="pytorch_default", **kwargs):
    super().__init__(**kwargs)
    self.num_classes = checks.integer("num_classes", num_classes, 1)
    self.variant = check_variant(variant)
    self.init = init_lib.check_init_scheme(init)
    narrow, wide = AUXILIARY_CHANNELS
    self.relu_in = ops_lib.ReLU(name="relu_in")
    self.pool = keras.layers.AveragePooling2D(5, _AUXILIARY_POOL_STRIDES[variant],
                                              padding="valid", name="pool")
    self.conv_narrow = ops_lib.conv2d(narrow, 1, 1, init, name="conv_narrow")
    self.bn_narrow = ops_lib.batch_norm(name="bn_narrow")
    self.relu_narrow = ops_lib.ReLU(name="relu_narrow")
    self.conv_wide = ops_lib.conv2d(wide, 2, 1, init, name="conv_wide")
    self.bn_wide = ops_lib.batch_norm(name="bn_wide") if variant == "cifar" else None
    self.relu_wide = ops_lib.ReLU(name="relu_wide")
    self.flatten = keras.layers.Flatten(name="flatten")
    self.classifier = keras.layers.Dense(
        num_classes, kernel_initializer=init_lib.kernel_initializer(init), name="classifier")

  def build(self, input_shape):
    input_shape = tuple(input_shape)
    self.relu_in.build(input_shape)
    # The 5x5 pool must leave at least 2x2 for the 2x2 conv: a side of at least 5 + stride.
    smallest = 5 + self.pool.strides[0]
    if any(side is not None and side < smallest for side in input_shape[1:3]):
      raise ValueError(f"the auxiliary head's input map must be at least {smallest}x{smallest} "
                       f"for its 5x5 pool (stride {self.pool.strides[0]}) to leave 2x2 (DARTS: "
                       f"8x8 for 32x32 CIFAR images, 7x7 for 224x224 ImageNet images); got "
                       f"{input_shape[1]}x{input_shape[2]}: use larger images or "
                       f"auxiliary_weight=0")
    pooled = self.pool.compute_output_shape(input_shape)
    self.conv_narrow.build(pooled)
    narrow = self.conv_narrow.compute_output_shape(pooled)
    self.bn_narrow.build(narrow)
    self.relu_narrow.build(narrow)
    self.conv_wide.build(narrow)
    wide = self.conv_wide.compute_output_shape(narrow)
    if self.bn_wide is not None:
      self.bn_wide.build(wide)
    self.relu_wide.build(wide)
    self.classifier.build(self.flatten.compute_output_shape(wide))

  def call(self, inputs, training=None):
    x = self.pool(self.relu_in(inputs))
    x = self.relu_narrow(self.bn_narrow(self.conv_narrow(x), training=training))
    x = self.conv_wide(x)
    if self.bn_wide is not None:
      x = self.bn_wide(x, training=training)
    return kops.cast(self.classifier(self.flatten(self.relu_wide(x))), "float32")

  def compute_output_shape(self, input_shape):
    return (input_shape[0], self.num_classes)

  def get_config(self):
    config = super().get_config()
    config.update(num_classes=self.num_classes, variant=self.variant, init=self.init)
    return config
