"""Hand-made search round records (as `tenas_tf.search.prune_round` writes them), for the tests of
the pictures and the TensorBoard view: no network, no indicator, a search's shape in microseconds.
"""

import numpy as np


def _record(space, index, candidates, pruned, **kind):
  """A round record over `candidates` [(cell index, edge, op index)] pruning `pruned` (a subset);
  scores and ranks are set by position, so every value is known to the test."""
  def describe(cell, edge, op):
    return {"cell": space.cell_types[cell], "edge": int(edge), "op": space.ops[op]}

  scores = [dict(describe(*c), ntk=0.01 * i - 0.05, lr=0.002 * i) for i, c in enumerate(candidates)]
  ranks = [dict(describe(*c), ntk=i % 7, lr=i % 3, sum=i % 7 + i % 3)
           for i, c in enumerate(candidates)]
  return {"round": index, **kind, "pruned": [describe(*c) for c in pruned], "scores": scores,
          "ranks": ranks, "seconds": 1.5 + index, "warnings": []}


def op_rounds(space, final_mask, prune_number):
  """Op rounds from `space.initial_mask()` down to `final_mask` (one op per edge), each removing
  `prune_number` ops per edge (fewer on its last), the ops in `space.ops` order."""
  mask = space.initial_mask().copy()
  records = []
  while np.any(mask.sum(axis=-1) > 1):
    candidates = [tuple(map(int, c)) for c in np.argwhere(mask)]
    pruned = []
    for cell, edge in np.ndindex(mask.shape[:2]):
      extra = [op for op in np.flatnonzero(mask[cell, edge]) if not final_mask[cell, edge, op]]
      pruned += [(cell, edge, int(op)) for op in extra[:prune_number]]
    for candidate in pruned:
      mask[candidate] = False
    records.append(_record(space, len(records), candidates, pruned, kind="ops"))
  return records


def nb201_rounds(space, genotype):
  """The 3 op rounds (one op per edge each) of an NB201 search that finds `genotype`."""
  return op_rounds(space, genotype.alive_mask(), 1)


def darts_rounds(space, genotype):
  """The op rounds (3 ops per edge each) and topology rounds of a DARTS search that finds
  `genotype`: edges outside the genotype keep `sep_conv_3x3` until their node's topology round
  cuts them."""
  final = genotype.alive_mask()
  on_edge = final.any(axis=-1)
  final[~on_edge, space.ops.index("sep_conv_3x3")] = True
  records = op_rounds(space, final, 3)
  for cell in range(len(space.cell_types)):
    for node, (start, end) in enumerate(space.node_edges):
      if end - start <= 2:
        continue
      candidates = [(cell, edge, int(np.flatnonzero(final[cell, edge])[0]))
                    for edge in range(start, end)]
      pruned = [c for c in candidates if not on_edge[c[0], c[1]]]
      records.append(_record(space, len(records), candidates, pruned, kind="topology",
                             cell=space.cell_types[cell], node=node))
  return records


def ops_round(space, num_candidates, index=0):
  """One NB201 op round of `num_candidates` candidates (edge = i % 6), pruning the first."""
  candidates = [(0, i % 6, 1 + i // 6) for i in range(num_candidates)]
  return _record(space, index, candidates, candidates[:1], kind="ops")
