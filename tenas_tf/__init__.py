"""tenas_tf: training-free neural architecture search (TE-NAS) in TensorFlow 2 / Keras 3.

The root re-exports the one function most users want first, `tenas_tf.score` (rank your own Keras
models by the two indicators); the rest lives in the packages, by floor: `spaces`, `indicators`,
`data` (foundations), `search`, `train`, `export` (algorithms), `experiments` (runs) and `launch`
(binaries). The root imports nothing from `experiments` or `launch`. It imports `export` so that
`import tenas_tf` is enough for `keras.saving.load_model` to read an exported `.keras` file (its
classes are registered when their modules load).
"""

__version__ = "0.1.0"

from tenas_tf import export  # pylint: disable=g-import-not-at-top,unused-import
from tenas_tf.search import score  # pylint: disable=g-import-not-at-top
