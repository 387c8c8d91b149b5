"""tf.data inputs of the TE-NAS indicators: image sources and deterministic NTK / LR pipelines."""

from tenas_tf.data.datasets import DATASETS, DatasetInfo, dataset_info
from tenas_tf.data.pipelines import linear_region_batches, ntk_batches
from tenas_tf.data.sources import load_images, npz_images, synthetic_images, tfds_images
