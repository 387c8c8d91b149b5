"""tenas_tf: training-free neural architecture search (TE-NAS) in TensorFlow 2 / Keras 3."""

__version__ = "0.1.0"

from tenas_tf.analysis.scoring import score  # pylint: disable=g-import-not-at-top
