"""The DARTS topology step: after the op rounds, each node keeps its 2 best input edges.

Once every edge holds one op, a DARTS node still has 2 + k live input edges (node k). For each
cell type (normal, then reduce) and each node with more than 2 of them (node 0 has exactly 2
and is left alone), one round scores the removal of each input edge's single op exactly like a
candidate of an op round (NTK and LR drops against the current mask, shared weights), ranks
these candidates within the node, and keeps the 2 edges with the highest rank sum (the least
prunable); the others are emptied. Each node is one round of the search's record, so a killed
search resumes after its last finished node. The rounds themselves run in
`tenas_tf.search.prune.prune_round(..., node=...)`; this module holds the rule.

One deliberate difference from the reference: its NTK origin keeps the mask of the start of the
step while its candidates see the nodes already pruned; here origin and candidates both use the
current mask (the ranking within a node is barely affected).
Reference: TE-NAS (Chen et al., ICLR 2021) section 3.3, the DARTS space (the authors' code's
`prune_func_rank_group`).
"""

import numpy as np

KEPT_INPUTS = 2  # input edges each node keeps (DARTS)


def live_edges(mask, cell, node_edges):
  """The edges of one node, [start, end), that still have an alive op."""
  start, end = node_edges
  return [edge for edge in range(start, end) if mask[cell, edge].any()]


def pending_nodes(mask, node_edges):
  """(cell type, node) pairs whose node has more than 2 live input edges, in search order.

  Args:
    mask: bool [cell_types, edges, ops].
    node_edges: per node, its [start, end) edge-index range (`SearchSpace.node_edges`).

  Returns:
    A list of (cell, node) index pairs, cell types first, then nodes in order.
  """
  return [(cell, node) for cell in range(mask.shape[0])
          for node, edges in enumerate(node_edges)
          if len(live_edges(mask, cell, edges)) > KEPT_INPUTS]


def node_candidates(mask, cell, node, node_edges):
  """(cell, edge, op) of each live input edge of one node: the edge's single alive op.

  Raises:
    ValueError: if an input edge of the node still has several alive ops (the topology step
      comes after the op rounds).
  """
  candidates = []
  for edge in live_edges(mask, cell, node_edges[node]):
    alive = np.flatnonzero(mask[cell, edge])
    if len(alive) != 1:
      raise ValueError(f"the topology step needs one alive op per edge; cell {cell} edge {edge} "
                       f"(node {node}) has {len(alive)}")
    candidates.append((cell, edge, int(alive[0])))
  return candidates


def edges_to_prune(prune_order):
  """The candidates to remove: all but the last 2 in prune order (the highest rank sums).

  Args:
    prune_order: candidate indices from most to least prunable
      (`tenas_tf.search.ranking.rank_candidates`).

  Returns:
    The candidate indices to prune, in prune order.
  """
  return list(prune_order[:max(len(prune_order) - KEPT_INPUTS, 0)])
