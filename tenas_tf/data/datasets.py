"""The datasets TE-NAS scores architectures on, and their input statistics, defined once.

Each entry fixes what the indicator inputs look like: the NTK image size, the zero padding of the
random crop and the per-channel normalisation. The numbers are those of the reference
(NB201 / AutoDL `lib/datasets`; Dong & Yang, ICLR 2020, section 2.2). Labels are never used by the
indicators; `num_classes` is kept because ImageNet16-120 is defined by it (first 120 classes).

ImageNet-1k is scored on whole images resized to 32x32 (`resize=True`): its sources decode and
resize each image once (`tenas_tf.data.imagenet`), then the same pipelines apply.
"""

import dataclasses
import types


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What the indicator pipelines need to know about one dataset.

  Statistics are on the [0, 1] scale: pixels are divided by 255 and then normalised as
  `(x - mean) / std`, as torchvision's `ToTensor` + `Normalize` do in the reference.

  Args:
    name: the dataset's name in this package, e.g. `"cifar10"`.
    image_size: side S of the square S x S x 3 images the NTK batches have.
    pad: zero padding, in pixels on every side, before the random S x S crop.
    mean: per-channel (R, G, B) mean, on the [0, 1] scale.
    std: per-channel (R, G, B) standard deviation, on the [0, 1] scale.
    num_classes: number of classes; TFDS examples with a label >= num_classes are dropped.
    tfds_name: the TensorFlow Datasets name, or None where there is none (synthetic data).
    resize: True where the dataset's images come in all sizes and are resized, whole, to
      S x S before the augmentation (ImageNet-1k, as the reference's `Resize((32, 32))`); its
      TFDS images are then decoded and resized by `tenas_tf.data.imagenet.decode_and_resize`.

  Example:

  >>> info = dataset_info("cifar10")
  >>> info.image_size, info.pad
  (32, 4)

  Reference: NAS-Bench-201 (Dong & Yang, ICLR 2020) section 2.2; TE-NAS (Chen et al., ICLR 2021).
  """

  name: str
  image_size: int
  pad: int
  mean: tuple[float, float, float]
  std: tuple[float, float, float]
  num_classes: int
  tfds_name: str | None = None
  resize: bool = False


def _over_255(values):
  return tuple(v / 255.0 for v in values)


_CIFAR10_MEAN = _over_255((125.3, 123.0, 113.9))
_CIFAR10_STD = _over_255((63.0, 62.1, 66.7))

_INFOS = (
    DatasetInfo("cifar10", image_size=32, pad=4, mean=_CIFAR10_MEAN, std=_CIFAR10_STD,
                num_classes=10, tfds_name="cifar10"),
    DatasetInfo("cifar100", image_size=32, pad=4, mean=_over_255((129.3, 124.1, 112.4)),
                std=_over_255((68.2, 65.4, 70.4)), num_classes=100, tfds_name="cifar100"),
    # NB201's ImageNet16-120 is down-sampled ImageNet, 16x16, first 120 classes; TFDS's
    # `imagenet_resized/16x16` holds the same images (NAS-Bench-201 section 2.2).
    DatasetInfo("imagenet16-120", image_size=16, pad=2,
                mean=_over_255((122.68, 116.66, 104.01)),
                std=_over_255((63.22, 61.26, 65.09)), num_classes=120,
                tfds_name="imagenet_resized/16x16"),
    # ILSVRC2012 training images resized, whole, to 32x32 (bilinear); torchvision's ImageNet
    # statistics, already on the [0, 1] scale (the TE-NAS authors' ImageNet code).
    DatasetInfo("imagenet-1k", image_size=32, pad=4, mean=(0.485, 0.456, 0.406),
                std=(0.229, 0.224, 0.225), num_classes=1000, tfds_name="imagenet2012",
                resize=True),
    # Random images with CIFAR-10's geometry and statistics: runs anywhere, offline, in seconds.
    DatasetInfo("synthetic", image_size=32, pad=4, mean=_CIFAR10_MEAN, std=_CIFAR10_STD,
                num_classes=10, tfds_name=None),
)

# Read-only name -> DatasetInfo map; the one list of supported datasets.
DATASETS = types.MappingProxyType({info.name: info for info in _INFOS})


def dataset_info(name):
  """Returns the `DatasetInfo` of a dataset name (case-insensitive, e.g. "ImageNet16-120").

  Args:
    name: one of `DATASETS`: "cifar10", "cifar100", "imagenet16-120", "imagenet-1k",
      "synthetic";
      a `DatasetInfo` is returned unchanged.

  Returns:
    The frozen `DatasetInfo`.

  Raises:
    ValueError: if `name` is not a known dataset.

  Example:

  >>> dataset_info("ImageNet16-120").image_size
  16
  """
  if isinstance(name, DatasetInfo):
    return name
  if not isinstance(name, str) or name.lower() not in DATASETS:
    raise ValueError(f"dataset must be one of {tuple(DATASETS)}; got {name!r}")
  return DATASETS[name.lower()]
