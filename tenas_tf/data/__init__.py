"""tf.data inputs of the TE-NAS indicators: image sources and deterministic NTK / LR pipelines."""

from tenas_tf.data.caching import cache_images
from tenas_tf.data.datasets import DATASETS, DatasetInfo, dataset_info
from tenas_tf.data.imagenet import (decode_and_resize, image_folder_classes, image_folder_images,
                                    tfrecord_files, tfrecord_images)
from tenas_tf.data.pipelines import linear_region_batches, ntk_batches
from tenas_tf.data.sources import (IMAGENET16_120_SIZES, check_imagenet16_120_count, load_images,
                                   npz_images, synthetic_images, tfds_images)
