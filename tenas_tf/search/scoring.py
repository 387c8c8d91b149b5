"""The one scoring loop: candidates measured by indicators, on draws keyed by identity.

Every scoring in tenas_tf (a pruning round's candidates, the DARTS topology step's edges, fixed
cells in an evaluation, the models given to `tenas_tf.score`) is "for each candidate and repeat,
measure each indicator on a network with some weights and some inputs". This module does that
once. What a candidate sees is a function of (candidate, repeat) only: its inputs are element
`draw_index(candidate, repeat)` of a deterministic stream and its weights come from
`weights_seed(candidate, repeat)`. So the order in which candidates are scored cannot change a
value, which is what lets them be scored in any order, or elsewhere, with identical results.

The indicators are arguments (`Indicator`), so a test can pass a stub with hand-set values and
check the decisions made from them.
"""

import collections
import dataclasses
from typing import Any, Callable, Optional

import numpy as np

from tenas_tf.search import ranking
from tenas_tf.spaces import initialize

_MEMO_SIZE = 8  # draws of a stream kept: a round's shared draws are served without replaying


def draw_seed(seed, round_index, stream):
  """An int seed for one random stream of one round (or draw), independent of the others."""
  return int(np.random.SeedSequence([seed, round_index, stream]).generate_state(1)[0])


class KeyedDraws:
  """Element n of a deterministic stream, for any n, whatever was asked for before.

  The stream is `make_iterator()`, which must yield the same elements every time it is called
  (e.g. `iter(tenas_tf.data.ntk_batches(images, info, 72, seed))`). Asking for n in increasing
  order costs one pass; asking for a draw behind the current position restarts the stream
  (recent draws are memoised, so a round's shared draws never restart it: with
  `--common_batches` every candidate asks for draws 0 to repeats - 1 again).

  Args:
    make_iterator: () -> an iterator of elements.
    per_draw: stream elements per draw; draw n is the list of elements [n * per_draw, ...) when
      above 1 (the linear-region count takes 3 sample batches), the element itself when 1.
    name: what the stream is, for the error raised when it runs out.
  """

  def __init__(self, make_iterator, per_draw=1, name="inputs"):
    self._make_iterator = make_iterator
    self._per_draw = per_draw
    self._name = name
    self._iterator = None
    self._position = 0
    self._memo = collections.OrderedDict()  # draw -> its value, least recently used first

  def _element(self, index):
    if self._iterator is None or index < self._position:
      self._iterator, self._position = iter(self._make_iterator()), 0
    while self._position <= index:
      try:
        element = next(self._iterator)
      except StopIteration:
        raise ValueError(f"{self._name} ran out after {self._position} element(s); element "
                         f"{index} was needed") from None
      self._position += 1
    return element

  def __call__(self, draw):
    if draw in self._memo:
      self._memo.move_to_end(draw)
      return self._memo[draw]
    if self._per_draw == 1:
      value = self._element(draw)
    else:
      value = [self._element(draw * self._per_draw + k) for k in range(self._per_draw)]
    self._memo[draw] = value
    if len(self._memo) > _MEMO_SIZE:
      self._memo.popitem(last=False)
    return value


@dataclasses.dataclass(frozen=True)
class Indicator:
  """One indicator as the scoring loop applies it.

  Attributes:
    name: its key in the results ("ntk", "lr").
    measure: (network, inputs) -> float, e.g. `tenas_tf.indicators.ntk_condition_number`.
    network: (candidate, repeat) -> the Keras model measured; a supernet whose `set_alive`
      selects a candidate when the candidates are masks.
    draws: draw index -> inputs (a `KeyedDraws`).
    draw_index: (candidate, repeat) -> which draw that evaluation uses.
    weights_seed: (candidate, repeat) -> the seed the network's weights are drawn from for that
      evaluation (`tenas_tf.spaces.initialize`), or None to keep its weights. The network is
      re-initialised only when the seed changes.
    init: the initialisation scheme of `weights_seed`.
  """

  name: str
  measure: Callable[[Any, Any], float]
  network: Callable[[int, int], Any]
  draws: Callable[[int], Any]
  draw_index: Callable[[int, int], int]
  weights_seed: Callable[[int, int], Optional[int]] = lambda candidate, repeat: None
  init: str = "pytorch_default"


class _Weights:
  """Re-initialises a network only when the seed it should hold changes."""

  def __init__(self):
    self._held = {}

  def ensure(self, network, seed, scheme):
    if seed is not None and self._held.get(id(network)) != seed:
      initialize(network, seed, scheme)
      self._held[id(network)] = seed


def score_candidates(indicators, num_candidates, repeats, *, masks=None, origin=None,
                     repeat_major=False, only=None, progress=None):
  """Measures every candidate with every indicator, `repeats` times.

  Args:
    indicators: a sequence of `Indicator`.
    num_candidates: how many candidates (>= 1).
    repeats: evaluations per candidate and indicator (>= 1).
    masks: optional list of `num_candidates` alive masks: candidate c is the indicator's network
      with `set_alive(masks[c])`. Without masks the network is the candidate itself.
    origin: optional mask: then each value is the relative drop from the origin's value on the
      same weights and inputs (`tenas_tf.search.ranking.relative_drop`), as a pruning round
      scores the removal of an op. The origin is measured once per distinct (weights, inputs).
    repeat_major: evaluate all candidates of repeat 0, then of repeat 1, ...: cheaper when the
      weights depend on the repeat only (one initialisation per repeat). The values are the same
      in either order.
    only: optional candidate indices to score (the others' rows stay 0): a worker scoring its
      share of a round. Each value is the one the whole round would give it.
    progress: optional callable(done, total), called after each candidate (or each candidate
      and repeat with `repeat_major`).

  Returns:
    (values, warnings): {indicator name: float64 [num_candidates, repeats]}, and the sorted
    distinct warnings of non-finite or zero origin values (with `origin`).
  """
  weights = _Weights()
  values = {indicator.name: np.zeros((num_candidates, repeats)) for indicator in indicators}
  origin_values = {}
  warnings = set()

  def evaluate(indicator, candidate, repeat):
    network = indicator.network(candidate, repeat)
    seed = indicator.weights_seed(candidate, repeat)
    weights.ensure(network, seed, indicator.init)
    draw = indicator.draw_index(candidate, repeat)
    inputs = indicator.draws(draw)
    key = (indicator.name, id(network), seed, draw)
    if origin is not None and key not in origin_values:
      network.set_alive(origin)
      origin_values[key] = indicator.measure(network, inputs)
    if masks is not None:
      network.set_alive(masks[candidate])
    value = indicator.measure(network, inputs)
    if origin is None:
      return value
    drop, warning = ranking.relative_drop(origin_values[key], value)
    if warning:
      warnings.add(warning)
    return drop

  scored = range(num_candidates) if only is None else sorted(only)
  if repeat_major:
    order = [(c, r) for r in range(repeats) for c in scored]
  else:
    order = [(c, r) for c in scored for r in range(repeats)]
  for done, (candidate, repeat) in enumerate(order, start=1):
    for indicator in indicators:
      values[indicator.name][candidate, repeat] = evaluate(indicator, candidate, repeat)
    if progress and (repeat_major or repeat == repeats - 1):
      progress(done if repeat_major else done // repeats,
               len(order) if repeat_major else len(scored))
  return values, sorted(warnings)
