"""One data layer: image sources behind a `DataSource` value, indicator and training pipelines.

The indicators read unlabelled uint8 images (`DataSource.images`, `load_images`) through
`ntk_batches` and `linear_region_batches`; training reads the same sources with their labels
(`DataSource.examples`) through `train_batches` / `eval_batches` (CIFAR recipe) or
`imagenet_train_batches` / `imagenet_eval_batches` (ImageNet-1k files).
"""

from tenas_tf.data.caching import (
    cache_images,
)
from tenas_tf.data.data_source import (
    DataSource,
    load_images,
)
from tenas_tf.data.datasets import (
    DATASETS,
    DatasetInfo,
    dataset_info,
)
from tenas_tf.data.imagenet import (
    decode_and_resize,
    image_folder_classes,
    image_folder_examples,
    image_folder_images,
    tfrecord_files,
    tfrecord_images,
)
from tenas_tf.data.imagenet_training import (
    imagenet_eval_batches,
    imagenet_train_batches,
)
from tenas_tf.data.pipelines import (
    linear_region_batches,
    ntk_batches,
)
from tenas_tf.data.sources import (
    check_examples,
    check_files,
    npz_examples,
    npz_images,
    synthetic_examples,
    synthetic_images,
)
from tenas_tf.data.tfds_sources import (
    IMAGENET16_120_SIZES,
    check_imagenet16_120_count,
    eval_split,
    tfds_examples,
    tfds_images,
)
from tenas_tf.data.training import (
    eval_batches,
    train_batches,
)
