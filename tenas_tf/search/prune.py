"""The TE-NAS pruning search: rounds of scoring every op by removal, then pruning per edge.

Every round builds nothing new: the origin supernet of the round is re-initialised in place and
each candidate (origin minus one op) is the same Keras model with one alive bit cleared, so one
traced graph serves the whole search and the candidates share the origin's weights exactly as in
the reference. Everything random in round r is seeded from (seed, r), so a round can be rerun
on its own (the basis of resuming a killed search). Reference: TENAS_SPEC.md section 5.
"""

import dataclasses
import logging
import math
import time

import numpy as np

from tenas_tf import indicators
from tenas_tf.search import ranking
from tenas_tf.search import topology
from tenas_tf.spaces import init as init_lib

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
      value = getattr(self, name)
      if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1; got {value!r}")
    init_lib.check_init_scheme(self.init)


@dataclasses.dataclass
class Candidate:
  """One op whose removal is scored: (cell type, edge, op column)."""

  cell: int
  edge: int
  op: int


def round_seed(seed, round_index, stream):
  """An int seed for one random stream of one round, independent of earlier rounds' draws."""
  return int(np.random.SeedSequence([seed, round_index, stream]).generate_state(1)[0])


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


class _Indicator:
  """One indicator on one network: value of the origin and of a candidate on shared inputs."""

  def __init__(self, network, measure, draw_inputs):
    self.network = network
    self.measure = measure
    self.draw_inputs = draw_inputs
    self.warnings = []

  def value(self, mask, inputs):
    self.network.set_alive(mask)
    return self.measure(self.network, inputs)

  def mean_drop(self, origin_mask, candidate_mask, inputs_per_repeat, origin_values):
    drops = []
    for inputs, origin in zip(inputs_per_repeat, origin_values):
      if origin is None:
        origin = self.value(origin_mask, inputs)
      drop, warning = ranking.relative_drop(origin, self.value(candidate_mask, inputs))
      if warning:
        self.warnings.append(warning)
      drops.append(drop)
    return float(np.mean(drops)) if all(map(math.isfinite, drops)) else min(drops)


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


def prune_round(mask, round_index, space, ntk_net, lr_net, ntk_batches, lr_batches, settings,
                progress=None, node=None):
  """Runs one pruning round: an op round, or with `node` a topology round.

  Both score every candidate by its removal in the same way. An op round's candidates are the
  alive ops of every edge holding several, and each edge loses `settings.prune_number` of them
  (TENAS_DETAILS.md 6.2); a topology round's candidates are the single ops of one node's input
  edges, and the node keeps the 2 with the highest rank sum (`tenas_tf.search.topology`).

  Args:
    mask: bool [cell_types, edges, ops], the current alive ops.
    round_index: 0-based, seeds this round's weights and data.
    space: the `SearchSpace` (op names for the record; `node_edges` for a topology round).
    ntk_net, lr_net: the space's indicator supernets (re-initialised here).
    ntk_batches: (seed) -> iterator of NTK image batches.
    lr_batches: (seed) -> iterator of linear-region sample batches.
    settings: `PruneSettings`.
    progress: optional callable(done, total) after each candidate.
    node: None for an op round; (cell type index, node index) for a topology round.

  Returns:
    (new_mask, record): the pruned mask and a JSON-ready dict with `round`, `kind` ("ops" or
    "topology", the latter with its `cell` and `node`), `pruned`, `scores`, `ranks`, `seconds`
    and `warnings`.
  """
  start = time.time()
  seed = settings.seed
  init_lib.initialize(ntk_net, round_seed(seed, round_index, 0), settings.init)
  ntk_iter = ntk_batches(round_seed(seed, round_index, 1))
  lr_iter = lr_batches(round_seed(seed, round_index, 2))
  lr_init_seeds = np.random.default_rng(round_seed(seed, round_index, 3))
  ntk = _Indicator(ntk_net, indicators.ntk_condition_number, lambda: next(ntk_iter))
  regions = _Indicator(lr_net, indicators.num_linear_regions,
                       lambda: [next(lr_iter) for _ in range(settings.lr_batches_per_count)])

  if node is None:
    candidates = candidates_of(mask)
  else:
    candidates = [Candidate(*c) for c in topology.node_candidates(mask, *node, space.node_edges)]
  if settings.common_batches:
    shared = {ind: [ind.draw_inputs() for _ in range(settings.repeats)] for ind in (ntk, regions)}
    ntk_origin = [ntk.value(mask, inputs) for inputs in shared[ntk]]

  ntk_scores, lr_scores = [], []
  for done, candidate in enumerate(candidates, start=1):
    pruned = without(mask, candidate)
    # The reference re-initialises the linear-region nets for every candidate.
    init_lib.initialize(lr_net, int(lr_init_seeds.integers(2**31)), settings.init)
    if settings.common_batches:
      ntk_inputs, ntk_origins = shared[ntk], ntk_origin
      lr_inputs = shared[regions]
    else:
      ntk_inputs = [ntk.draw_inputs() for _ in range(settings.repeats)]
      ntk_origins = [None] * settings.repeats
      lr_inputs = [regions.draw_inputs() for _ in range(settings.repeats)]
    ntk_scores.append(ntk.mean_drop(mask, pruned, ntk_inputs, ntk_origins))
    lr_scores.append(regions.mean_drop(mask, pruned, lr_inputs, [None] * settings.repeats))
    if progress:
      progress(done, len(candidates))

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
      "warnings": sorted(set(ntk.warnings + regions.warnings)),
  }
  for warning in record["warnings"]:
    log.warning("round %d: %s", round_index, warning)
  return new_mask, record


def _describe(space, candidate):
  return {"cell": space.cell_types[candidate.cell], "edge": int(candidate.edge),
          "op": space.ops[candidate.op]}


def has_multi_op_edges(mask):
  """Whether an op round is still due: some edge holds more than one alive op."""
  return bool(np.any(mask.sum(axis=-1) > 1))


def run_search(space, ntk_net, lr_net, ntk_batches, lr_batches, settings, finished_rounds=(),
               mask=None, on_round=None, progress=None):
  """Prunes until every edge keeps one op, then (DARTS) every node its 2 best input edges.

  Args:
    space, ntk_net, lr_net, ntk_batches, lr_batches, settings: as for `prune_round`.
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
        mask, round_index, space, ntk_net, lr_net, ntk_batches, lr_batches, settings,
        progress=(lambda done, total: progress(round_index, done, total)) if progress else None,
        node=node)
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
