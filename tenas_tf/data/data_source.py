"""One data source as a frozen value: which images, from where; its identity; its loaders.

A `DataSource` names one set of images: a dataset and where its images come from (`.npz` files,
a folder of class folders, TFRecord shards, TFDS, or seeded random images), with the options
that change them (`max_images`, the seed, the TFDS split). It is checked and made canonical when
built (absolute paths, symlinks resolved), so that its `identity` does not depend on the working
directory or on how a path was typed. A run directory records that identity, and a resumed run
compares it. The same value loads the images for the indicators (`images`) and the labelled
examples for training (`examples`), through the one set of loaders of this package.
"""

import dataclasses
import os
from collections.abc import Sequence

from tenas_tf import checks
from tenas_tf.data import datasets as datasets_lib
from tenas_tf.data import imagenet
from tenas_tf.data import sources
from tenas_tf.data import tfds_sources

# The arguments that select a source; at most one may be given (`manual_dir` selects TFDS's
# ImageNet-1k, prepared from the ILSVRC2012 tar files it holds).
_SOURCE_ARGUMENTS = ("data_npz", "image_dir", "tfrecords", "manual_dir")
# Sources of whole images of any size, resized to the dataset's S x S: ImageNet-1k only.
_IMAGENET_ARGUMENTS = ("image_dir", "tfrecords", "manual_dir")


def _canonical(name, path):
  """`path` absolute, `~` expanded and symlinks resolved; a URL (gs://...) is kept as it is.

  A glob pattern stays a pattern: only the folders that exist before it are resolved.
  """
  if not isinstance(path, (str, os.PathLike)) or not os.fspath(path).strip():
    raise ValueError(f"--{name} must be a non-empty path; got {path!r}")
  path = os.fspath(path).strip()
  if "://" in path:
    return path
  return os.path.realpath(os.path.expanduser(path))


def _canonical_list(name, paths, what):
  """A tuple of canonical paths from a path, "a,b" or a sequence of paths."""
  if isinstance(paths, (str, os.PathLike)):
    parts = [p.strip() for p in os.fspath(paths).split(",") if p.strip()]
  elif isinstance(paths, Sequence) and all(isinstance(p, (str, os.PathLike)) for p in paths):
    parts = list(paths)
  else:
    raise ValueError(f"--{name} must be a path, a comma-separated string of paths or a list "
                     f"of paths; got {paths!r}")
  if not parts:
    raise ValueError(f"--{name} must name at least one {what}; got {paths!r}")
  return tuple(_canonical(name, part) for part in parts)


def _shown(name, value):
  """`--name=value` as on a command line: paths bare, lists comma-separated."""
  if isinstance(value, (str, os.PathLike)):
    return f"--{name}={os.fspath(value)}"
  if isinstance(value, Sequence):
    return f"--{name}={','.join(str(os.fspath(v)) for v in value)}"
  return f"--{name}={value!r}"


def _optional_path(name, path):
  return None if path is None else _canonical(name, path)


@dataclasses.dataclass(frozen=True)
class DataSource:
  """The images of one dataset from one source, canonical and checked: identity and loaders.

  The source is `data_npz`, `image_dir` or `tfrecords` if one is given (at most one may be);
  else random images if `dataset` is "synthetic"; else TensorFlow Datasets (ImageNet-1k
  prepared from `manual_dir` if given). Paths are stored absolute with symlinks resolved (glob
  patterns of `tfrecords` stay patterns), so two spellings of one file give one value.

  `identity` names what the images depend on: the source kind, its canonical paths, the dataset,
  and `max_images`, the seed (random images; the file order of `image_dir`) or the TFDS split
  where they matter. `cache_dir`, `data_dir` and `manual_dir` are left out on purpose: they say
  where decoded, downloaded or manually fetched files are kept, not which images are read.
  Cached or not, the images are the same (a cache is keyed by the files it was made from, see
  `caching.cache_file`), and one TFDS dataset is the same wherever it is stored; so moving a
  cache or a TFDS folder does not make a run directory refuse to resume.

  Args:
    dataset: a name of `DATASETS` (stored canonical, e.g. "imagenet16-120"); it fixes the
      image size and, for TFDS, the dataset read.
    data_npz: `.npz` files with uint8 images `x` (and labels `y` for training): a path,
      "a.npz,b.npz" or a list.
    image_dir: a folder of class sub-folders of JPEG / PNG files (ILSVRC2012 `train/`);
      ImageNet-1k only.
    tfrecords: TFRecord shards of `tf.train.Example`s with `image/encoded`: a path or glob
      pattern, a comma-separated string of them or a list; ImageNet-1k only.
    manual_dir: folder holding `ILSVRC2012_img_train.tar` and `ILSVRC2012_img_val.tar`, from
      which TFDS prepares ImageNet-1k; ImageNet-1k only.
    data_dir: TFDS data directory; None means TFDS's default.
    synthetic_count: number of random images of the "synthetic" dataset, >= 1.
    seed: int >= 0; the random images, and the permutation in which `image_dir` is read.
    split: the TFDS split ("train"; `eval_split(dataset)` for held-out images); TFDS only.
    cache_dir: folder in which a file source (`image_dir`, `tfrecords`, TFDS) keeps its decoded
      images for later runs; None caches in memory.
    max_images: use only the first N images (None: all).

  Raises:
    ValueError: one line naming the argument as a flag (`--cache_dir`), the rule and the value
      received (these arguments are the binaries' flags of the same names): an unknown dataset,
      several sources, an ImageNet-1k source with another dataset, `cache_dir` with `.npz` or
      random images, `split` with a source other than TFDS, or a malformed value.

  Example:

  >>> source = DataSource("synthetic", synthetic_count=16, seed=3)
  >>> source.identity
  'synthetic:16;dataset=synthetic;seed=3'
  >>> source.images().element_spec.shape
  TensorShape([32, 32, 3])
  """

  dataset: str
  data_npz: tuple[str, ...] | None = None
  image_dir: str | None = None
  tfrecords: tuple[str, ...] | None = None
  manual_dir: str | None = None
  data_dir: str | None = None
  synthetic_count: int = 512
  seed: int = 0
  split: str = "train"
  cache_dir: str | None = None
  max_images: int | None = None

  def __post_init__(self):
    try:
      info = datasets_lib.dataset_info(self.dataset)
    except ValueError:
      raise ValueError(f"--dataset must be one of {tuple(datasets_lib.DATASETS)}; "
                       f"got {self.dataset!r}") from None
    given = [name for name in _SOURCE_ARGUMENTS if getattr(self, name) is not None]
    if len(given) > 1:
      shown = " and ".join(_shown(name, getattr(self, name)) for name in given)
      raise ValueError(f"give at most one image source of "
                       f"{', '.join('--' + name for name in _SOURCE_ARGUMENTS)}; got {shown}")
    if given and given[0] in _IMAGENET_ARGUMENTS and not info.resize:
      raise ValueError(f"--{given[0]} reads ImageNet-1k and needs --dataset=imagenet-1k; "
                       f"got --dataset={info.name}")
    values = dict(
        dataset=info.name,
        data_npz=(None if self.data_npz is None
                  else _canonical_list("data_npz", self.data_npz, ".npz file")),
        image_dir=_optional_path("image_dir", self.image_dir),
        tfrecords=(None if self.tfrecords is None
                   else _canonical_list("tfrecords", self.tfrecords, "file or pattern")),
        manual_dir=_optional_path("manual_dir", self.manual_dir),
        data_dir=_optional_path("data_dir", self.data_dir),
        synthetic_count=checks.integer("--synthetic_count", self.synthetic_count, 1),
        seed=checks.integer("--seed", self.seed, 0),
        cache_dir=_optional_path("cache_dir", self.cache_dir),
        max_images=checks.optional_integer("--max_images", self.max_images, 1))
    for name, value in values.items():
      object.__setattr__(self, name, value)
    if not isinstance(self.split, str) or not self.split:
      raise ValueError(f"--split must be a TFDS split name such as 'train'; "
                       f"got {self.split!r}")
    if self.split != "train" and self.kind != "tfds":
      raise ValueError(f"--split applies to TFDS images only; got --split={self.split} with "
                       f"{self._described()}")
    if self.cache_dir is not None and self.kind in ("npz", "synthetic"):
      raise ValueError(f"--cache_dir caches the decoded images of --image_dir, --tfrecords or "
                       f"TFDS; got --cache_dir={self.cache_dir} with {self._described()}")

  @property
  def kind(self):
    """The source's kind: "npz", "image_dir", "tfrecords", "synthetic" or "tfds"."""
    if self.data_npz is not None:
      return "npz"
    if self.image_dir is not None:
      return "image_dir"
    if self.tfrecords is not None:
      return "tfrecords"
    return "synthetic" if self.dataset == "synthetic" else "tfds"

  def _described(self):
    """The source as its argument, for messages: "--data_npz=/a.npz", "--dataset=synthetic"."""
    name = {"npz": "data_npz", "image_dir": "image_dir", "tfrecords": "tfrecords"}.get(self.kind)
    if name is None:
      return f"--dataset={self.dataset}" if self.kind == "synthetic" else "TFDS"
    return _shown(name, getattr(self, name))

  @property
  def identity(self):
    """The canonical name of these images, for a run directory to record and compare.

    "<kind>:<what>;dataset=<name>[;split=...][;seed=...][;max_images=N]", e.g.
    "npz:/data/c10/a.npz,/data/c10/b.npz;dataset=cifar10",
    "image_dir:/data/ILSVRC2012/train;dataset=imagenet-1k;seed=0;max_images=20000",
    "tfds:cifar10;dataset=cifar10;split=train", "synthetic:64;dataset=synthetic;seed=2".
    Equal identities mean equal images (see the class docstring for what is left out).
    """
    kind = self.kind
    what = {"npz": ",".join(self.data_npz or ()), "image_dir": self.image_dir,
            "tfrecords": ",".join(self.tfrecords or ()), "synthetic": str(self.synthetic_count),
            "tfds": datasets_lib.dataset_info(self.dataset).tfds_name}[kind]
    parts = [f"{kind}:{what}", f"dataset={self.dataset}"]
    if kind == "tfds":
      parts.append(f"split={self.split}")
    if kind in ("synthetic", "image_dir"):
      parts.append(f"seed={self.seed}")
    if self.max_images is not None:
      parts.append(f"max_images={self.max_images}")
    return ";".join(parts)

  def images(self):
    """The unlabelled uint8 images [S, S, 3] of the indicators, S = the dataset's image size.

    File sources (`image_dir`, `tfrecords`, TFDS) decode each image before any batching,
    resized to S x S where needed, and cache it (in memory or in `cache_dir`); with
    `max_images` or `cache_dir` the decoding pass is made now (`caching.cache_images`).

    Returns:
      A finite `tf.data.Dataset` of uint8 images [S, S, 3].

    Raises:
      ValueError: for a missing or malformed source (named), or images that are not
        S x S x 3 uint8.
    """
    info = datasets_lib.dataset_info(self.dataset)
    size, kind = info.image_size, self.kind
    file_options = dict(max_images=self.max_images, cache_dir=self.cache_dir)
    if kind == "npz":
      images = sources.npz_images(list(self.data_npz))
    elif kind == "image_dir":
      images = imagenet.image_folder_images(self.image_dir, size, shuffle_seed=self.seed,
                                            **file_options)
    elif kind == "tfrecords":
      images = imagenet.tfrecord_images(list(self.tfrecords), size, **file_options)
    elif kind == "synthetic":
      images = sources.synthetic_images(self.synthetic_count, size, self.seed)
    else:
      images = tfds_sources.tfds_images(info, data_dir=self.data_dir, split=self.split,
                                        manual_dir=self.manual_dir, **file_options)
    if kind in ("npz", "synthetic") and self.max_images is not None:
      images = images.take(self.max_images)
    sources.check_image_spec(images, size,
                             f"images of dataset {info.name!r} ({self._described()})")
    return images

  def examples(self, *, classes=None):
    """The labelled examples of training, in the source's order (the first `max_images`).

    Args:
      classes: for `image_dir`, the class names its labels must index (the training folder's,
        when this source holds held-out images); None takes its own sorted sub-folders.

    Returns:
      (images uint8 [N, S, S, 3], labels int32 [N]) in memory; for `image_dir` (ImageNet-1k,
      decoded batch by batch) (paths str [N], labels int32 [N]).

    Raises:
      ValueError: for `tfrecords` (indicator images only), `max_images` with `image_dir`,
        `classes` with another source, or a missing or malformed source.
    """
    info, kind = datasets_lib.dataset_info(self.dataset), self.kind
    if classes is not None and kind != "image_dir":
      raise ValueError(f"classes applies to --image_dir examples only; "
                       f"got {self._described()}")
    if kind == "tfrecords":
      raise ValueError(f"--tfrecords hold indicator images only; train from --data_npz, "
                       f"--image_dir, TFDS or random images; got {self._described()}")
    if kind == "image_dir":
      if self.max_images is not None:
        raise ValueError(f"--max_images samples the indicator images of --image_dir; training "
                         f"reads every file; got --max_images={self.max_images}")
      return imagenet.image_folder_examples(self.image_dir, info.num_classes, classes=classes)
    if kind == "npz":
      images, labels = sources.npz_examples(list(self.data_npz), info.num_classes)
    elif kind == "synthetic":
      images, labels = sources.synthetic_examples(self.synthetic_count, info.image_size,
                                                  info.num_classes, self.seed)
    else:
      images, labels = tfds_sources.tfds_examples(info, self.split, self.data_dir)
    return images[:self.max_images], labels[:self.max_images]


def load_images(dataset, *, data_dir=None, data_npz=None, synthetic_count=512, seed=0,
                manual_dir=None, image_dir=None, tfrecords=None, cache_dir=None,
                max_images=None):
  """The indicator images of `dataset` from the source its arguments select.

  `DataSource(dataset, ...).images()`; see `DataSource` for the arguments.

  Returns:
    A finite `tf.data.Dataset` of uint8 images [S, S, 3], S = the dataset's `image_size`.

  Raises:
    ValueError: as `DataSource` and `DataSource.images`.

  Example:

  >>> images = load_images("synthetic", synthetic_count=16)
  >>> images.element_spec.shape
  TensorShape([32, 32, 3])
  >>> images = load_images("imagenet-1k", image_dir="/data/ILSVRC2012/train",
  ...                      max_images=20_000, cache_dir="/data/cache")  # doctest: +SKIP
  """
  return DataSource(dataset, data_npz=data_npz, image_dir=image_dir, tfrecords=tfrecords,
                    manual_dir=manual_dir, data_dir=data_dir, synthetic_count=synthetic_count,
                    seed=seed, cache_dir=cache_dir, max_images=max_images).images()
