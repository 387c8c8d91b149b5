"""The TE-NAS pruning search: rounds of scoring every op by removal, then pruning per edge.

Every round builds nothing new: the origin supernet of the round is re-initialised in place and
each candidate (origin minus one op) is the same Keras model with one alive bit cleared, so one
traced graph serves the whole search and the candidates share the origin's weights exactly as in
the reference. Everything random in round r is seeded from (seed, r), so a round can be rerun
on its own (the basis of resuming a killed search). Reference: TE-NAS (Chen et al., ICLR
2021) section 3.3 and Algorithm 1.
"""

import dataclasses
import logging
import math
import time

import numpy as np

from tenas_tf import checks
from tenas_tf import indicators
from tenas_tf.search import ranking
from tenas_tf.search import scoring
from tenas_tf.search import topology
from tenas_tf.spaces import INIT_SCHEMES

log = logging.getLogger("tenas_tf.search")


@dataclasses.dataclass(frozen=True)
class PruneSettings:
  """How the search scores and prunes.

  Attributes:
    prune_number: ops removed per edge per round (NB201 1; DARTS CIFAR 3, ImageNet 2); never more
      than leaves one op on an edge.
    repeats: draws averaged per score (3 in the paper).
    lr_batches_per_count: batches of linear-region samples per count (3 x 1000 in the paper).
    common_batches: score every candidate of a round on the same NTK batches and LR samples
      (common random numbers; the origin's indicators are then computed once per repeat). False
      reproduces the reference: a fresh batch for every candidate and repeat.
    init: initialisation scheme of the indicator networks.
    seed: the search's seed.
  """

  prune_number: int = 1
  repeats: int = 3
  lr_batches_per_count: int = 3
  common_batches: bool = False
  init: str = "pytorch_default"
  seed: int = 0

  def __post_init__(self):
    for name in ("prune_number", "repeats", "lr_batches_per_count"):
      checks.integer(name, getattr(self, name), minimum=1)
    checks.boolean("common_batches", self.common_batches)
    checks.one_of("init", self.init, INIT_SCHEMES)
    checks.integer("seed", self.seed)


@dataclasses.dataclass
class Candidate:
  """One op whose removal is scored: (cell type, edge, op column)."""

  cell: int
  edge: int
  op: int


def candidates_of(mask):
  """Every alive op on an edge that has more than one alive op, in (cell, edge, op) order."""
  return [Candidate(c, e, o) for c, e, o in zip(*np.nonzero(mask))
          if mask[c, e].sum() > 1]


def ops_to_remove(mask, prune_number):
  """Ops pruned per edge this round: `prune_number`, but never the last op of the fullest edge."""
  most_alive = int(mask.sum(axis=-1).max())
  return min(prune_number, most_alive - 1)


def without(mask, candidate):
  pruned = mask.copy()
  pruned[candidate.cell, candidate.edge, candidate.op] = False
  return pruned


# Random streams of a round (`scoring.draw_seed(seed, round, stream)`).
_NTK_WEIGHTS, _NTK_DATA, _LR_DATA, _LR_WEIGHTS = range(4)


def te_nas_indicators(ntk_net, lr_net, ntk_batches, lr_batches, settings):
  """The paper's two indicators for `prune_round`: (round_index, num_candidates) -> Indicators.

  Per round: the NTK supernet gets one set of weights from (seed, round); the linear-region
  supernet new weights for every candidate, as the reference re-initialises it per candidate.
  Candidate c's repeat r takes draw c * repeats + r of the round's NTK batches and LR samples
  (a fresh batch per candidate and repeat, as the reference draws them), or draw r with
  `settings.common_batches` (every candidate on the same inputs).

  Args:
    ntk_net, lr_net: the space's indicator supernets (`SearchSpace.ntk_network`, ...).
    ntk_batches: (seed) -> iterator of NTK image batches, the same for the same seed.
    lr_batches: (seed) -> iterator of linear-region sample batches, likewise.
    settings: `PruneSettings`.
  """
  repeats = settings.repeats

  def for_round(round_index, num_candidates):
    def seed_of(stream):
      return scoring.draw_seed(settings.seed, round_index, stream)

    lr_seeds = np.random.default_rng(seed_of(_LR_WEIGHTS)).integers(2**31, size=num_candidates)
    if settings.common_batches:
      draw_index = lambda candidate, repeat: repeat
    else:
      draw_index = lambda candidate, repeat: candidate * repeats + repeat
    ntk_data, lr_data = seed_of(_NTK_DATA), seed_of(_LR_DATA)
    return [
        scoring.Indicator(
            "ntk", indicators.ntk_condition_number, lambda c, r: ntk_net,
            scoring.KeyedDraws(lambda: ntk_batches(ntk_data), name="NTK batches"), draw_index,
            weights_seed=lambda c, r: seed_of(_NTK_WEIGHTS), init=settings.init),
        scoring.Indicator(
            "lr", indicators.num_linear_regions, lambda c, r: lr_net,
            scoring.KeyedDraws(lambda: lr_batches(lr_data), settings.lr_batches_per_count,
                               name="linear-region samples"),
            draw_index, weights_seed=lambda c, r: int(lr_seeds[c]), init=settings.init),
    ]

  return for_round


def _ops_to_prune(candidates, prune_order, k):
  """Op rounds: on every edge, the first `k` of its candidates in prune order."""
  removed_per_edge = {}
  chosen = []
  for index in prune_order:
    key = (candidates[index].cell, candidates[index].edge)
    if removed_per_edge.get(key, 0) < k:
      removed_per_edge[key] = removed_per_edge.get(key, 0) + 1
      chosen.append(index)
  return chosen


def local_scorer(indicators_for_round, repeats):
  """Scores a round's candidates in this process: the default of `prune_round`.

  A scorer is callable(round_index, masks, origin, progress) -> (drops, warnings), with drops
  {"ntk", "lr"}: float64 [len(masks), repeats] of relative drops from `origin`
  (`scoring.score_candidates`); another scorer (e.g. a pool of Ray workers) must return the
  same values.
  """

  def score(round_index, masks, origin, progress=None):
    return scoring.score_candidates(indicators_for_round(round_index, len(masks)), len(masks),
                                    repeats, masks=masks, origin=origin, progress=progress)

  return score


def prune_round(mask, round_index, space, indicators_for_round, settings, progress=None,
                node=None, scorer=None):
  """Runs one pruning round: an op round, or with `node` a topology round.

  Both score every candidate by its removal in the same way. An op round's candidates are the
  alive ops of every edge holding several, and each edge loses `settings.prune_number` of them;
  a topology round's candidates are the single ops of one node's input edges, and the node keeps
  the 2 with the highest rank sum (`tenas_tf.search.topology`).

  Args:
    mask: bool [cell_types, edges, ops], the current alive ops.
    round_index: 0-based; seeds this round's weights and data.
    space: the `SearchSpace` (op names for the record; `node_edges` for a topology round).
    indicators_for_round: (round_index, num_candidates) -> the "ntk" and "lr" `Indicator`s of
      the round (`te_nas_indicators`, or stubs in a test). Each candidate's score per indicator
      is the mean over `settings.repeats` of its relative drop from the current mask's value.
      Unused (may be None) with a `scorer`, which scores with its own.
    settings: `PruneSettings`.
    progress: optional callable(done, total) after each candidate.
    node: None for an op round; (cell type index, node index) for a topology round.
    scorer: how the candidates are scored (`local_scorer(indicators_for_round, repeats)` by
      default; e.g. `tenas_tf.experiments.RayWorkers.search_scorer` to spread them over workers).

  Returns:
    (new_mask, record): the pruned mask and a JSON-ready dict with `round`, `kind` ("ops" or
    "topology", the latter with its `cell` and `node`), `pruned`, `scores`, `ranks`, `seconds`
    and `warnings`.
  """
  start = time.time()
  if node is None:
    candidates = candidates_of(mask)
  else:
    candidates = [Candidate(*c) for c in topology.node_candidates(mask, *node, space.node_edges)]
  scorer = scorer or local_scorer(indicators_for_round, settings.repeats)
  drops, warnings = scorer(round_index, [without(mask, candidate) for candidate in candidates],
                           mask, progress)
  ntk_scores, lr_scores = (list(map(_mean_drop, drops[name])) for name in ("ntk", "lr"))

  prune_order, ntk_ranks, lr_ranks = ranking.rank_candidates(ntk_scores, lr_scores)
  if node is None:
    chosen = _ops_to_prune(candidates, prune_order, ops_to_remove(mask, settings.prune_number))
    kind = {"kind": "ops"}
  else:
    chosen = topology.edges_to_prune(prune_order)
    kind = {"kind": "topology", "cell": space.cell_types[node[0]], "node": node[1]}
  new_mask = mask.copy()
  for index in chosen:
    new_mask[candidates[index].cell, candidates[index].edge, candidates[index].op] = False

  def with_values(candidate, **values):
    return dict(_describe(space, candidate), **values)

  record = {
      "round": round_index,
      **kind,
      "pruned": [_describe(space, candidates[index]) for index in chosen],
      "scores": [with_values(c, ntk=s_ntk, lr=s_lr)
                 for c, s_ntk, s_lr in zip(candidates, ntk_scores, lr_scores)],
      "ranks": [with_values(c, ntk=r_ntk, lr=r_lr, sum=r_ntk + r_lr)
                for c, r_ntk, r_lr in zip(candidates, ntk_ranks, lr_ranks)],
      "seconds": time.time() - start,
      "warnings": warnings,
  }
  for warning in record["warnings"]:
    log.warning("round %d: %s", round_index, warning)
  return new_mask, record


def _mean_drop(drops):
  """A candidate's score: the mean of its drops over the repeats, or the smallest non-finite."""
  drops = [float(drop) for drop in drops]
  return float(np.mean(drops)) if all(map(math.isfinite, drops)) else min(drops)


def _describe(space, candidate):
  return {"cell": space.cell_types[candidate.cell], "edge": int(candidate.edge),
          "op": space.ops[candidate.op]}


def has_multi_op_edges(mask):
  """Whether an op round is still due: some edge holds more than one alive op."""
  return bool(np.any(mask.sum(axis=-1) > 1))


def run_search(space, indicators_for_round, settings, finished_rounds=(), mask=None,
               on_round=None, progress=None, scorer=None):
  """Prunes until every edge keeps one op, then (DARTS) every node its 2 best input edges.

  Args:
    space, indicators_for_round, settings, scorer: as for `prune_round`.
    finished_rounds: records of rounds already done (resuming); their pruning is replayed.
    mask: the starting mask (default `space.initial_mask()`).
    on_round: optional callable(mask, records) after each round (e.g. to save state).
    progress: optional callable(round_index, done, total).

  Returns:
    (mask, records): the final mask and one record per round: the op rounds, then, where
    `space.prunes_topology`, one topology round per node that had more than 2 input edges.
  """
  mask = space.initial_mask() if mask is None else mask.copy()
  records = list(finished_rounds)
  for record in records:
    for pruned in record["pruned"]:
      mask[space.cell_types.index(pruned["cell"]), pruned["edge"],
           space.ops.index(pruned["op"])] = False

  def next_round(mask, node):
    round_index = len(records)
    what = "ops" if node is None else f"topology of {space.cell_types[node[0]]} node {node[1]}"
    log.info("round %d (%s) starts", round_index, what)
    mask, record = prune_round(
        mask, round_index, space, indicators_for_round, settings,
        progress=(lambda done, total: progress(round_index, done, total)) if progress else None,
        node=node, scorer=scorer)
    records.append(record)
    log.info("round %d done in %.1f s: pruned %s", round_index, record["seconds"],
             ", ".join(f"{p['op']}@{p['cell']}/edge{p['edge']}" for p in record["pruned"]))
    if on_round:
      on_round(mask, records)
    return mask

  while has_multi_op_edges(mask):
    mask = next_round(mask, None)
  if space.prunes_topology:
    # The nodes still to prune follow from the mask, so a resumed search skips finished ones.
    for node in topology.pending_nodes(mask, space.node_edges):
      mask = next_round(mask, node)
  return mask, records
