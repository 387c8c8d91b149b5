"""Indicators of fixed cells, scored the way the reference scores them.

Each draw initialises one NTK supernet and one linear-region supernet, takes one NTK batch and one
set of linear-region samples, and evaluates every cell's mask on them. So within a draw all cells
see identical weights and inputs (as candidates do in the search), and the draws differ. The
supernets hold only the ops some cell uses (the union of the masks): an op no cell runs changes
no value, and leaving it out saves tracing and compute (much of the DARTS supernet).
"""

import functools

import numpy as np
import tensorflow as tf

from tenas_tf import checks
from tenas_tf import indicators
from tenas_tf.search import scoring

# Random streams of a draw (`scoring.draw_seed(seed, draw, stream)`).
_NTK_WEIGHTS, _NTK_DATA, _LR_WEIGHTS, _LR_DATA = range(4)


def _first_of_stream(make_iterator, count):
  """(seed) -> the first `count` elements of `make_iterator(seed)` (one, unlisted, if 1)."""

  @functools.lru_cache(maxsize=1)  # a draw's cells are scored one after the other
  def first(seed):
    stream = iter(make_iterator(seed))
    taken = [next(stream) for _ in range(count)]
    return taken[0] if count == 1 else taken

  return first


def mask_scorer(space, masks, ntk_batches, lr_batches, *, num_classes, input_shape,
                lr_batches_per_draw=3, seed=0, init="pytorch_default"):
  """The indicator supernets of `masks`, built once, and a function scoring any of their draws.

  `score_masks` scores every draw of every cell in one call. A pool of workers instead scores
  shares (some draws of some cells), each worker on supernets it builds once. Draw d's weights
  and inputs come from (seed, d) alone and the supernets from all of `masks`, so a (cell, draw)
  gets the same value in whatever share it is scored.

  Args:
    space, masks, ntk_batches, lr_batches, num_classes, input_shape, lr_batches_per_draw, seed,
    init: as for `score_masks`.

  Returns:
    score(draws, only=None, progress=None) -> (ntk, lr): float arrays [len(masks), len(draws)]
    whose column j is draw `draws[j]`; with `only` (cell indices) the other rows stay 0;
    `progress` is called per cell and draw with (done, total).

  Raises:
    ValueError: no masks, or `lr_batches_per_draw` below 1.

  Example:
    >>> score = mask_scorer(space, masks, ntk_batches, lr_batches, num_classes=10,
    ...                     input_shape=(32, 32, 3))
    >>> ntk, lr = score([1], only=[0, 2])  # draw 1 of cells 0 and 2
  """
  if not len(masks):
    raise ValueError("masks must hold at least one mask; got none")
  lr_batches_per_draw = checks.integer("lr_batches_per_draw", lr_batches_per_draw, minimum=1)
  masks = list(masks)
  built_ops = space.built_ops_of(np.any(np.asarray(masks, dtype=bool), axis=0))
  ntk_net = space.ntk_network(num_classes, input_shape, init, built_ops=built_ops)
  lr_net = space.linear_region_network(num_classes, init, built_ops=built_ops)
  first_ntk = _first_of_stream(ntk_batches, 1)
  first_lr = _first_of_stream(lr_batches, lr_batches_per_draw)

  def score(draws, only=None, progress=None):
    draws = [checks.integer("draw", draw, minimum=0) for draw in draws]
    by_draw = lambda candidate, repeat: draws[repeat]
    values, _ = scoring.score_candidates(
        [scoring.Indicator("ntk", indicators.ntk_condition_number, lambda c, r: ntk_net,
                           lambda draw: first_ntk(scoring.draw_seed(seed, draw, _NTK_DATA)),
                           by_draw,
                           lambda c, r: scoring.draw_seed(seed, draws[r], _NTK_WEIGHTS), init),
         scoring.Indicator("lr", indicators.num_linear_regions, lambda c, r: lr_net,
                           lambda draw: first_lr(scoring.draw_seed(seed, draw, _LR_DATA)),
                           by_draw,
                           lambda c, r: scoring.draw_seed(seed, draws[r], _LR_WEIGHTS), init)],
        len(masks), len(draws), masks=masks, repeat_major=True, only=only, progress=progress)
    return values["ntk"], values["lr"]

  return score


def score_masks(space, masks, ntk_batches, lr_batches, *, num_classes, input_shape, draws=3,
                lr_batches_per_draw=3, seed=0, init="pytorch_default", progress=None):
  """kappa_NTK and #LR of each mask, one value per draw.

  Args:
    space: a `tenas_tf.spaces.SearchSpace`.
    masks: non-empty list of bool masks of the space's shape (a fixed cell may keep `none`
      alive).
    ntk_batches: (seed) -> iterator of NTK image batches; a draw takes the first batch.
    lr_batches: (seed) -> iterator of linear-region sample batches; a draw takes the first
      `lr_batches_per_draw`.
    num_classes, input_shape: the NTK network's classes and input shape [H, W, C].
    draws: independent draws of weights and data (>= 1).
    lr_batches_per_draw: sample batches per region count (>= 1; 3 in the paper).
    seed: seeds every draw.
    init: initialisation scheme.
    progress: optional callable(done, total), per cell and draw.

  Returns:
    (ntk, lr): float arrays [len(masks), draws] of condition numbers and region counts.
  """
  draws = checks.integer("draws", draws, minimum=1)
  score = mask_scorer(space, masks, ntk_batches, lr_batches, num_classes=num_classes,
                      input_shape=input_shape, lr_batches_per_draw=lr_batches_per_draw, seed=seed,
                      init=init)
  return score(range(draws), progress=progress)


def pruned_network_sizes(space, mask, num_classes, input_shape, init="pytorch_default"):
  """What the indicators see of a mask: sizes of its physically pruned indicator networks.

  Args:
    space: a `tenas_tf.spaces.registry.SearchSpace`.
    mask: bool mask of the space's shape.
    num_classes, input_shape: the NTK network's classes and input shape [H, W, C].
    init: initialisation scheme.

  Returns:
    (lr_hooked_units, params_with_grad): the ReLU output values per sample that the region
    count records in the thin net, and the number of NTK parameters (conv kernels, BN gammas,
    dense kernel) that can get a gradient, i.e. the length of one row of the NTK Jacobian.
    Both are what the reference reports as `lr_hooked_units` and `params_with_grad`.
  """
  built_ops = space.built_ops_of(mask)
  thin = space.linear_region_network(num_classes, init, built_ops=built_ops)
  hooked = indicators.relu_unit_count(thin, tf.zeros([2, 3, 3, 1]))
  ntk_net = space.ntk_network(num_classes, input_shape, init, built_ops=built_ops)
  params = sum(int(np.prod(v.shape)) for v in indicators.ntk_variables(ntk_net))
  return int(hooked), params
