"""Exporting a trained network: `.keras` files and SavedModels in TF Serving's layout.

One input contract for both: raw uint8 images [N, S, S, 3], normalised inside the model
(`RawImageClassifier`); training keeps feeding the bare network normalised floats.
"""

from tenas_tf.export.exporter import ExportPaths, export_model, inference_copy, load_keras_model
from tenas_tf.export.layout import (CONFIG_FILE, check_model_name, models_config_text,
                                    next_version, served_models, versions, write_models_config)
from tenas_tf.export.raw_image_classifier import INPUT_DTYPE, RawImageClassifier
from tenas_tf.export.serving import (INPUT_KEY, LOGITS_KEY, PROBABILITIES_KEY, SIGNATURE_KEY,
                                     ImageClassifierModule, save_serving_model)
