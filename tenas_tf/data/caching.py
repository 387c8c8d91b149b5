"""Decode once: caching of decoded images, in memory or in files that later runs reuse.

The reference decodes full-size ImageNet JPEGs again for every batch, just to take 32x32 images
and 3x3 crops (the README's "ImageNet data"). The file-backed sources here decode and
resize each image before any batching and keep the small uint8 result with
`tf.data.Dataset.cache`.

One property of `Dataset.cache` decides how it is used: tf.data keeps a cache only once a pass
over the WHOLE dataset has completed; an iterator that stops earlier (as the shuffle buffers of
the indicator pipelines do on ImageNet) throws its partial cache away. `cache_images(...,
max_images=...)` and `cache_images(..., cache_dir=...)` therefore make that pass themselves, up
front: afterwards every iterator, and with `cache_dir` every later run, reads the cache and
decodes nothing. Without either, the images are cached in memory as they are first read; on a
dataset too large for one pass (all of ImageNet) each new pipeline iterator then decodes what
its shuffle buffer and batches read (about 10k images), no more.
"""

import hashlib
import logging
import os

import tensorflow as tf

from tenas_tf import checks

_LOG = logging.getLogger(__name__)


def count_elements(dataset, batch_size=4096):
  """The number of elements of a finite dataset, counted by one pass over it, in batches.

  Batched because `Dataset.reduce` costs about 35 us per element it calls its function on.

  Args:
    dataset: a finite `tf.data.Dataset` whose elements all have the same shapes.
    batch_size: elements per batch of the pass.

  Returns:
    The number of elements, an int.
  """
  batches = dataset.batch(batch_size)
  size = lambda batch: tf.shape(tf.nest.flatten(batch)[0], out_type=tf.int64)[0]
  return int(batches.reduce(tf.constant(0, tf.int64), lambda count, batch: count + size(batch)))


def cache_file(cache_dir, name, fingerprint):
  """The cache file prefix `<cache_dir>/<name>-<16 hex digits of sha256(fingerprint)>`.

  Args:
    cache_dir: the cache directory (created if missing).
    name: a readable prefix, e.g. "image_dir_32px".
    fingerprint: a string naming everything the cached images depend on (file list, image
      size, ...); another fingerprint gives another file, so a stale cache is never read.

  Returns:
    The path prefix to give `Dataset.cache`; tf.data writes `<prefix>.index` and
    `<prefix>.data-*` files next to it.

  Raises:
    ValueError: if `cache_dir` exists but is not a directory.
  """
  cache_dir = os.fspath(cache_dir)
  if os.path.exists(cache_dir) and not os.path.isdir(cache_dir):
    raise ValueError(f"cache_dir must be a directory; got {cache_dir!r}, which is a file")
  os.makedirs(cache_dir, exist_ok=True)
  digest = hashlib.sha256(fingerprint.encode("utf-8")).hexdigest()[:16]
  return os.path.join(cache_dir, f"{name}-{digest}")


def cache_images(images, *, name, fingerprint, cache_dir=None, max_images=None):
  """The first `max_images` of `images`, cached in memory or in `cache_dir`, filled if bounded.

  Args:
    images: a finite `tf.data.Dataset` (e.g. decoded and resized images).
    name: readable prefix of the cache file and of messages, e.g. "image_dir_32px".
    fingerprint: what the images depend on; hashed into the file name (see `cache_file`).
    cache_dir: None caches in memory; a directory caches in files there. A file cache written
      by an earlier run with the same fingerprint is read, not rewritten. Two processes must not
      write the same cache at once (tf.data refuses, naming its `.lockfile`; a run killed while
      writing leaves that lockfile, to delete by hand).
    max_images: keep only the first N elements; None keeps all.

  With `cache_dir` or `max_images`, the dataset is iterated once now (decoding it), so that the
  cache is complete before the first batch is drawn. Otherwise it is filled by the first
  iterator that reaches the end, and discarded by one that stops before.

  Returns:
    The cached `tf.data.Dataset`; after a pass now, with its cardinality known.

  Raises:
    ValueError: if the pass finds no element, `cache_dir` is not a directory, or `max_images`
      is not None or an int >= 1.

  Example:

  >>> images = cache_images(decoded, name="image_dir_32px", fingerprint=listing,
  ...                       cache_dir="/tmp/cache", max_images=20_000)  # doctest: +SKIP
  """
  max_images = checks.optional_integer("max_images", max_images, 1)
  if max_images is not None:
    images = images.take(max_images)
  fingerprint = f"{fingerprint}\nmax_images {max_images}"
  filename = "" if cache_dir is None else cache_file(cache_dir, name, fingerprint)
  cached = images.cache(filename)
  if cache_dir is None and max_images is None:
    return cached
  where = filename or "memory"
  _LOG.info("decoding and caching %s in %s (one pass over the source)", name, where)
  count = count_elements(cached)
  if count == 0:
    raise ValueError(f"images {name!r} to cache must hold at least one element; got none")
  _LOG.info("cached %d elements of %s in %s", count, name, where)
  return cached.apply(tf.data.experimental.assert_cardinality(count))
