"""Ranking any Keras models by the two TE-NAS indicators, without the search.

`score` computes, per model and draw, the NTK condition number on one image batch and the number
of linear regions on one set of sample batches, takes the medians over the draws and combines
them the way TE-NAS ranks candidates: the dense rank of the kappa median (ascending, small kappa is
trainable) plus the dense rank of the #LR median (descending, many regions is expressive). A
lower rank sum is better. Reference: TE-NAS (Chen et al., ICLR 2021) section 3.3.
"""

import dataclasses
import functools
import math

import numpy as np
import tensorflow as tf
import keras

from tenas_tf import checks
from tenas_tf import indicators
from tenas_tf.search import ranking
from tenas_tf.search import scoring
from tenas_tf.spaces import INIT_SCHEMES


@dataclasses.dataclass(frozen=True)
class Scores:
  """The indicators and TE-NAS ranks of a list of models (index i is the i-th model).

  No field holds NaN: a condition number that is not finite is reported as `inf` (a NaN kernel
  and a singular one, lambda_min <= 0, both mean "not trainable"); `warnings` says which model and
  draw had which.

  Attributes:
    kappa: float64 [models, draws], kappa_NTK per draw (`inf` where not finite).
    kappa_median: float64 [models], median over the draws.
    regions: int64 [models, draws], #LR per draw.
    regions_median: float64 [models], median over the draws.
    kappa_rank: int64 [models], dense rank of `kappa_median`, 0 for the smallest; every non-finite
      kappa shares the last rank.
    regions_rank: int64 [models], dense rank of `regions_median`, 0 for the largest.
    rank_sum: int64 [models], `kappa_rank + regions_rank`; lower is better.
    warnings: tuple of messages, one per non-finite condition number.
  """

  kappa: np.ndarray
  kappa_median: np.ndarray
  regions: np.ndarray
  regions_median: np.ndarray
  kappa_rank: np.ndarray
  regions_rank: np.ndarray
  rank_sum: np.ndarray
  warnings: tuple = ()

  def best_first(self):
    """Model indices ordered by rank sum, best first (ties keep the models' order)."""
    return np.argsort(self.rank_sum, kind="stable")


def finite_or_inf(kappa):
  """`kappa` as float64 with NaN replaced by `inf` (both: the NTK gives no usable ratio)."""
  kappa = np.array(kappa, dtype=np.float64)
  kappa[np.isnan(kappa)] = math.inf
  return kappa


def combined_ranks(kappa_median, regions_median):
  """TE-NAS's rank sum of indicator medians.

  Both ranks come from `tenas_tf.search.ranking.dense_ranks`, the search's rule (a stable sort of
  values rounded to 3 significant figures; the rank grows whenever a value differs from the
  previous one), so a model list is ranked exactly as the search ranks candidates.

  Args:
    kappa_median: [models] condition numbers; NaN and `inf` rank last (shared rank).
    regions_median: [models] region counts.

  Returns:
    (kappa_rank, regions_rank, rank_sum): int64 arrays [models]; lower is better.

  Raises:
    ValueError: if the two have different lengths or are empty.
  """
  kappa_median = finite_or_inf(kappa_median)
  regions_median = np.asarray(regions_median, dtype=np.float64)
  if kappa_median.ndim != 1 or kappa_median.shape != regions_median.shape or not len(kappa_median):
    raise ValueError(f"kappa_median and regions_median must be non-empty 1-D arrays of one length; "
                     f"got shapes {kappa_median.shape} and {regions_median.shape}")
  _, kappa_rank = ranking.dense_ranks(kappa_median.tolist(), descending=False)
  _, regions_rank = ranking.dense_ranks(regions_median.tolist(), descending=True)
  kappa_rank = np.asarray(kappa_rank, dtype=np.int64)
  regions_rank = np.asarray(regions_rank, dtype=np.int64)
  return kappa_rank, regions_rank, kappa_rank + regions_rank


def _is_single_batch(value):
  return isinstance(value, (np.ndarray, tf.Tensor)) or keras.ops.is_tensor(value)


def _batch_stream(batches, name):
  if batches is None or _is_single_batch(batches):
    raise ValueError(
        f"{name} must be an iterable of batches (a list, an iterator or a tf.data.Dataset), one "
        f"taken per draw; got {type(batches).__name__}"
        + (f" of shape {tuple(batches.shape)}; pass [batch] * draws to reuse one batch"
           if batches is not None else ""))
  return iter(batches)


def _per_draw(stream, count, name, draws):
  """draw -> the `count` batches of that draw, taken from `stream` in draw order."""

  @functools.lru_cache(maxsize=1)  # every model of a draw is scored before the next draw
  def take(draw):
    taken = []
    for _ in range(count):
      try:
        taken.append(next(stream))
      except StopIteration:
        raise ValueError(f"{name} ran out at draw {draw + 1} of {draws}; it must yield {count} "
                         f"batch(es) per draw") from None
    return taken

  return take


def _model_list(models_or_builder, name, draw, expected=None):
  models = models_or_builder() if callable(models_or_builder) else models_or_builder
  if (not isinstance(models, (list, tuple)) or not models
      or not all(isinstance(m, keras.Model) for m in models)):
    source = f"{name}() at draw {draw + 1}" if callable(models_or_builder) else name
    raise ValueError(f"{source} must be a non-empty list of keras.Model (or a zero-argument "
                     f"callable returning one); got {models!r}")
  if expected is not None and len(models) != expected:
    raise ValueError(f"{name} must hold one model per scored model ({expected}); got "
                     f"{len(models)} at draw {draw + 1}")
  return list(models)


def score(models, ntk_batches, lr_batches=None, *, draws=3, lr_models=None, lr_batches_per_draw=1,
          init=None, seed=0, progress=None):
  """kappa_NTK, #LR and the TE-NAS rank sum of each model, over independent draws.

  Per draw: one image batch from `ntk_batches` gives every model's NTK condition number
  (`tenas_tf.indicators.ntk_condition_number`: BatchNorm in training mode, Gram matrix and
  eigenvalues in float64), and `lr_batches_per_draw` batches from `lr_batches` give every model's
  number of linear regions (`tenas_tf.indicators.num_linear_regions`), counted on `lr_models`
  where given (TE-NAS counts regions on thin networks fed 3x3x1 crops, because the count saturates
  at the sample count on wide ones). Within a draw every model sees the same inputs.

  Args:
    models: a non-empty list of Keras models mapping image batches to logits, or a zero-argument
      callable returning a fresh such list; a callable is called once per draw, so that every draw
      sees new weights (a list keeps its weights across draws unless `init` is given).
    ntk_batches: an iterable of [n, H, W, C] float batches, n >= 2 (e.g. a list, or
      `tenas_tf.data.ntk_batches(...)`); one batch is taken per draw.
    lr_batches: an iterable of sample batches for the region count, `lr_batches_per_draw` taken
      per draw (e.g. `tenas_tf.data.linear_region_batches(...)`). None counts the regions on the
      draw's NTK batch (meaningful only for small models: at most n regions).
    draws: number of independent draws, >= 1 (3 in the paper).
    lr_models: like `models` (list or callable, one model per model), the networks whose regions
      are counted; default: `models` themselves.
    lr_batches_per_draw: batches of `lr_batches` per count, >= 1 (TE-NAS: 3 batches of 1000).
    init: None to keep the models' own weights, or an initialisation scheme of
      `tenas_tf.spaces.INIT_SCHEMES` (e.g. "pytorch_default", which produced the paper's numbers)
      to redraw every model's weights before each draw; all models of one draw use the same seed,
      so models of one structure get the same weights.
    seed: seeds the redrawn weights (with `init`).
    progress: optional callable(done, total), called after each model and draw.

  Returns:
    A `Scores`: per model the kappa and #LR of each draw, their medians, the two dense ranks and
    the rank sum (lower is better). A non-finite condition number ranks last and is reported as
    `inf`, never NaN.

  Raises:
    ValueError: an argument is invalid, a builder returns no list of models or a list of another
      length, or a batch iterable runs out before the last draw.

  Example:
    >>> builder = lambda: [make_cnn(width) for width in (8, 16, 32)]
    >>> scores = tenas_tf.score(builder, [images_a, images_b, images_c], draws=3)
    >>> scores.best_first()   # model indices, best first

  Reference: TE-NAS section 3.3 (ranking by kappa_NTK and #LR).
  """
  draws = checks.integer("draws", draws, minimum=1)
  lr_batches_per_draw = checks.integer("lr_batches_per_draw", lr_batches_per_draw, minimum=1)
  if init is not None:
    checks.one_of("init", init, INIT_SCHEMES)
  ntk_stream = _per_draw(_batch_stream(ntk_batches, "ntk_batches"), 1, "ntk_batches", draws)
  lr_stream = (None if lr_batches is None else _per_draw(
      _batch_stream(lr_batches, "lr_batches"), lr_batches_per_draw, "lr_batches", draws))
  first_draw_models = _model_list(models, "models", 0)
  count = len(first_draw_models)

  @functools.lru_cache(maxsize=1)  # one draw's models at a time
  def networks(draw):
    nets = first_draw_models if draw == 0 else _model_list(models, "models", draw, count)
    lr_nets = nets if lr_models is None else _model_list(lr_models, "lr_models", draw, count)
    return nets, lr_nets

  warnings = []
  scored = {}  # the model and draw being measured, for the warnings

  def ntk_network(model, draw):
    scored.update(model=model, draw=draw)
    return networks(draw)[0][model]

  def condition_number(net, batch):
    spectrum = indicators.ntk_spectrum(net, batch)
    if not spectrum.well_defined:
      why = ("the kernel is not finite" if math.isnan(spectrum.condition_number)
             else f"lambda_min = {spectrum.lambda_min:.3g} <= 0")
      warnings.append(f"model {scored['model']}, draw {scored['draw'] + 1}: kappa is not "
                      f"finite ({why}); reported as inf")
    return spectrum.condition_number

  ntk_batch = lambda draw: ntk_stream(draw)[0]
  lr_samples = (lambda draw: [ntk_batch(draw)]) if lr_stream is None else lr_stream
  weights_seed = ((lambda model, draw: None) if init is None
                  else (lambda model, draw: scoring.draw_seed(seed, draw, 0)))
  by_draw = lambda model, draw: draw
  values, _ = scoring.score_candidates(
      [scoring.Indicator("ntk", condition_number, ntk_network, ntk_batch, by_draw,
                         weights_seed, init),
       scoring.Indicator("lr", indicators.num_linear_regions,
                         lambda model, draw: networks(draw)[1][model], lr_samples, by_draw,
                         weights_seed, init)],
      count, draws, repeat_major=True, progress=progress)
  kappa = finite_or_inf(values["ntk"])
  regions = values["lr"].astype(np.int64)
  kappa_median = np.median(kappa, axis=1)
  regions_median = np.median(regions, axis=1).astype(np.float64)
  kappa_rank, regions_rank, rank_sum = combined_ranks(kappa_median, regions_median)
  return Scores(kappa=kappa, kappa_median=kappa_median, regions=regions,
                regions_median=regions_median, kappa_rank=kappa_rank, regions_rank=regions_rank,
                rank_sum=rank_sum, warnings=tuple(warnings))
