"""The pieces every pipeline of `tenas_tf.data` is built from, defined once.

Normalisation, window crops, the CIFAR flip + pad + crop, stateless seeds, the step -> example
index stream of the training pipelines and the finishing `prefetch`. Every random choice is a
stateless op seeded by (seed, stream, index), so that a batch is a function of its seed and
index alone: the same in every process, in any order, and after a resume.
"""

import numpy as np
import tensorflow as tf


def normalize(pixels, info):
  """Float pixels on the 0..255 scale [..., 3] -> (pixels / 255 - mean) / std, per channel."""
  mean = tf.constant(info.mean, tf.float32)
  std = tf.constant(info.std, tf.float32)
  return (pixels / 255.0 - mean) / std


def crop(images, top, left, size):
  """Per-image windows: images [B, H, W, C], top and left [B] int32 -> [B, size, size, C]."""
  offsets = tf.range(size, dtype=tf.int32)
  rows = top[:, None] + offsets
  cols = left[:, None] + offsets
  images = tf.gather(images, rows, axis=1, batch_dims=1)
  return tf.gather(images, cols, axis=2, batch_dims=1)


def flip_pad_crop(pixels, batch_size, pad, size, flip_seed, top_seed, left_seed):
  """The CIFAR augmentation of a float batch [B, S, S, 3]: flip, zero-pad, random S x S crop.

  Per image: a horizontal flip with probability 0.5, `pad` black pixels on every side, then a
  crop at a uniform offset in [0, 2 pad]. `batch_size` is B (a Python int or a scalar tensor);
  the three seeds are stateless seeds [2].
  """
  flip = tf.random.stateless_uniform([batch_size], flip_seed) < 0.5
  pixels = tf.where(flip[:, None, None, None], tf.reverse(pixels, axis=[2]), pixels)
  pixels = tf.pad(pixels, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
  top = tf.random.stateless_uniform([batch_size], top_seed, 0, 2 * pad + 1, tf.int32)
  left = tf.random.stateless_uniform([batch_size], left_seed, 0, 2 * pad + 1, tf.int32)
  return crop(pixels, top, left, size)


def stateless_seeds(seed, stream, index, num):
  """`num` independent stateless seeds [2] for item `index` (a batch, a step) of `stream`."""
  base = tf.constant([seed, stream], tf.int64)
  return tf.unstack(tf.random.experimental.stateless_split(
      tf.random.experimental.stateless_fold_in(base, index), num=num))


def step_batches(count, batch_size, seed, stream, start_step):
  """An infinite dataset of (step, example indices [batch_size]) from step `start_step` on.

  Each pass over the `count` examples is a new permutation seeded by (seed, stream, pass), cut
  into batches (the incomplete last one dropped): the permutation is drawn once per pass, not
  once per step (an ImageNet permutation has 1.28M entries). The batches are a function of the
  step alone, so a resumed run sees the batches an uninterrupted one would.
  """
  per_pass = count // batch_size

  def batches_of_pass(pass_index):
    pass_seed = stateless_seeds(seed, stream, pass_index, 1)[0]
    order = tf.random.experimental.stateless_shuffle(tf.range(count), pass_seed)
    index = tf.reshape(order[:per_pass * batch_size], [per_pass, batch_size])
    steps = pass_index * per_pass + tf.range(per_pass, dtype=tf.int64)
    return tf.data.Dataset.from_tensor_slices((steps, index))

  first_pass = start_step // per_pass
  passes = tf.data.Dataset.range(first_pass, np.iinfo(np.int64).max)
  return passes.flat_map(batches_of_pass).skip(start_step - first_pass * per_pass)


def finish(dataset):
  """`dataset`, prefetched, with deterministic element order forced."""
  options = tf.data.Options()
  options.deterministic = True
  return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)
