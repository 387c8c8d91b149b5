"""Indicators of fixed cells, scored the way the reference scores them.

Each draw initialises one NTK supernet and one linear-region supernet, takes one NTK batch and one
set of linear-region samples, and evaluates every cell's mask on them. So within a draw all cells
see identical weights and inputs (as candidates do in the search), and the draws differ. The
supernets hold only the ops some cell uses (the union of the masks): an op no cell runs changes
no value, and leaving it out saves tracing and compute (much of the DARTS supernet).
Reference: shared/data/reference/README.md ("Draws and seeds").
"""

import numpy as np
import tensorflow as tf

from tenas_tf import data as data_lib
from tenas_tf import indicators
from tenas_tf.search import prune
from tenas_tf.spaces import init as init_lib

_NTK_WEIGHTS, _NTK_DATA, _LR_WEIGHTS, _LR_DATA = range(4)


def score_masks(space, masks, images, info, *, draws=3, batch_size=72, lr_batch_size=1000,
                lr_batches=3, seed=0, init="pytorch_default", progress=None):
  """kappa_NTK and #LR of each mask, one value per draw.

  Args:
    space: a `tenas_tf.spaces.registry.SearchSpace`.
    masks: non-empty list of bool masks of the space's shape (a fixed cell may keep `none`
      alive).
    images: finite tf.data.Dataset of uint8 images.
    info: `tenas_tf.data.DatasetInfo` of the images.
    draws: independent draws of weights and data.
    batch_size, lr_batch_size, lr_batches: NTK batch and linear-region sample sizes.
    seed: seeds every draw.
    init: initialisation scheme.
    progress: optional callable(done, total).

  Returns:
    (ntk, lr): float arrays [len(masks), draws] of condition numbers and region counts.
  """
  if not len(masks):
    raise ValueError("masks must hold at least one mask; got none")
  built_ops = space.built_ops_of(np.any(np.asarray(masks, dtype=bool), axis=0))
  ntk_net = space.ntk_network(info.num_classes, (info.image_size, info.image_size, 3), init,
                              built_ops=built_ops)
  lr_net = space.linear_region_network(info.num_classes, init, built_ops=built_ops)
  ntk = np.zeros((len(masks), draws))
  regions = np.zeros((len(masks), draws))
  for draw in range(draws):
    init_lib.initialize(ntk_net, prune.round_seed(seed, draw, _NTK_WEIGHTS), init)
    init_lib.initialize(lr_net, prune.round_seed(seed, draw, _LR_WEIGHTS), init)
    batch = next(iter(data_lib.ntk_batches(
        images, info, batch_size, prune.round_seed(seed, draw, _NTK_DATA))))
    lr_stream = iter(data_lib.linear_region_batches(
        images, info, lr_batch_size, prune.round_seed(seed, draw, _LR_DATA)))
    samples = [next(lr_stream) for _ in range(lr_batches)]
    for index, mask in enumerate(masks):
      ntk_net.set_alive(mask)
      lr_net.set_alive(mask)
      ntk[index, draw] = indicators.ntk_condition_number(ntk_net, batch)
      regions[index, draw] = indicators.num_linear_regions(lr_net, samples)
      if progress:
        progress(draw * len(masks) + index + 1, draws * len(masks))
  return ntk, regions


def pruned_network_sizes(space, mask, info, init="pytorch_default"):
  """What the indicators see of a mask: sizes of its physically pruned indicator networks.

  Args:
    space: a `tenas_tf.spaces.registry.SearchSpace`.
    mask: bool mask of the space's shape.
    info: `tenas_tf.data.DatasetInfo` (input size and classes of the NTK net).
    init: initialisation scheme.

  Returns:
    (lr_hooked_units, params_with_grad): the ReLU output values per sample that the region
    count records in the thin net, and the number of NTK parameters (conv kernels, BN gammas,
    dense kernel) that can get a gradient, i.e. the length of one row of the NTK Jacobian.
    Both are what the reference reports as `lr_hooked_units` and `params_with_grad`.
  """
  built_ops = space.built_ops_of(mask)
  thin = space.linear_region_network(info.num_classes, init, built_ops=built_ops)
  hooked = indicators.relu_sign_patterns(thin, tf.zeros([2, 3, 3, 1])).shape[1]
  ntk_net = space.ntk_network(info.num_classes, (info.image_size, info.image_size, 3), init,
                              built_ops=built_ops)
  params = sum(int(np.prod(v.shape)) for v in indicators.ntk_variables(ntk_net))
  return int(hooked), params
