"""The search spaces a search can run on, as plain data: masks, networks, genotypes."""

import dataclasses
from typing import Callable

import numpy as np

from tenas_tf import checks
from tenas_tf.spaces import darts
from tenas_tf.spaces import darts_supernet
from tenas_tf.spaces import nb201
from tenas_tf.spaces import nb201_supernet
from tenas_tf.spaces.darts_ops import DARTS_OPS
from tenas_tf.spaces.ops import NB201_OPS


@dataclasses.dataclass(frozen=True)
class SearchSpace:
  """What the pruning search needs to know about a space.

  Attributes:
    name: the space's name on the command line.
    ops: op names in mask-column order (index 0 is `none`).
    cell_types: names of the mask's leading axis (one alpha matrix each).
    initial_mask: () -> bool [cell_types, edges, ops], every op alive but `none`.
    ntk_network: (num_classes, input_shape, init, built_ops=None) -> built Keras supernet with
      `set_alive`; with `built_ops`, only those ops exist (the physically pruned network).
    linear_region_network: (num_classes, init, built_ops=None) -> built thin Keras supernet with
      `set_alive`.
    built_ops_of: bool mask -> the `built_ops` argument holding exactly its alive ops.
    genotype_of: bool mask of a finished search -> the space's genotype value (`to_json()`
      gives what result.json stores, `alive_mask()` the mask back).
    genotype_from_json: the JSON form of a genotype (`genotype.to_json()`) -> the genotype.
    node_edges: for spaces that also prune topology (DARTS), the [start, end) edge-index range
      of each node's input edges; after the op rounds each node with more of them keeps the 2
      best (`tenas_tf.search.topology`). Empty for a fixed topology (NB201).
  """

  name: str
  ops: tuple
  cell_types: tuple
  initial_mask: Callable[[], np.ndarray]
  ntk_network: Callable
  linear_region_network: Callable
  built_ops_of: Callable
  genotype_of: Callable
  genotype_from_json: Callable
  node_edges: tuple = ()

  @property
  def prunes_topology(self):
    """Whether the search ends with the topology step (TE-NAS, Chen et al., ICLR 2021, section 3.3:
    in the DARTS space each node keeps its 2 best input edges)."""
    return bool(self.node_edges)

  def reduced_to(self, initial_mask):
    """This space, its searches starting from `initial_mask` and its indicator networks holding
    only the ops alive there (`built_ops`): the same search flow with networks that trace in
    seconds (tests, benchmark smoke runs); the full DARTS NTK supernet takes minutes on a CPU."""
    initial_mask = np.array(initial_mask, dtype=bool)
    built = self.built_ops_of(initial_mask)
    return dataclasses.replace(
        self, initial_mask=initial_mask.copy,
        ntk_network=lambda classes, shape, init, built_ops=None: self.ntk_network(
            classes, shape, init, built_ops=built),
        linear_region_network=lambda classes, init, built_ops=None: self.linear_region_network(
            classes, init, built_ops=built))


NB201 = SearchSpace(
    name="nb201",
    ops=NB201_OPS,
    cell_types=("cell",),
    initial_mask=nb201.initial_mask,
    ntk_network=lambda num_classes, input_shape, init, built_ops=None: (
        nb201_supernet.ntk_network(num_classes, input_shape, init, built_ops=built_ops)),
    linear_region_network=lambda num_classes, init, built_ops=None: (
        nb201_supernet.linear_region_network(num_classes, init, built_ops=built_ops)),
    built_ops_of=nb201.built_ops_of,
    genotype_of=nb201.NB201Genotype.from_mask,
    genotype_from_json=nb201.NB201Genotype.from_json,
)

DARTS = SearchSpace(
    name="darts",
    ops=DARTS_OPS,
    cell_types=darts.CELL_TYPES,
    initial_mask=darts.initial_mask,
    ntk_network=lambda num_classes, input_shape, init, built_ops=None: (
        darts_supernet.ntk_network(num_classes, input_shape, init, built_ops=built_ops)),
    linear_region_network=lambda num_classes, init, built_ops=None: (
        darts_supernet.linear_region_network(num_classes, init, built_ops=built_ops)),
    built_ops_of=darts.built_ops_of,
    genotype_of=darts.DartsGenotype.from_mask,
    genotype_from_json=darts.DartsGenotype.from_json,
    node_edges=darts.NODE_EDGES,
)

SPACES = {space.name: space for space in (NB201, DARTS)}


def get_space(name):
  """The `SearchSpace` called `name`; raises ValueError naming the allowed spaces."""
  return SPACES[checks.one_of("space", name, tuple(SPACES))]
