"""The search spaces a search can run on, as plain data: masks, networks, genotypes."""

import dataclasses
from typing import Callable

import numpy as np

from tenas_tf.spaces import nb201
from tenas_tf.spaces import nb201_supernet
from tenas_tf.spaces.ops import NB201_OPS


@dataclasses.dataclass(frozen=True)
class SearchSpace:
  """What the pruning search needs to know about a space.

  Attributes:
    name: the space's name on the command line.
    ops: op names in mask-column order (index 0 is `none`).
    cell_types: names of the mask's leading axis (one alpha matrix each).
    initial_mask: () -> bool [cell_types, edges, ops], every op alive but `none`.
    ntk_network: (num_classes, input_shape, init) -> built Keras supernet with `set_alive`.
    linear_region_network: (num_classes, init) -> built thin Keras supernet with `set_alive`.
    genotype_of: bool mask with one op per edge -> the space's genotype value (has `to_string`).
  """

  name: str
  ops: tuple
  cell_types: tuple
  initial_mask: Callable[[], np.ndarray]
  ntk_network: Callable
  linear_region_network: Callable
  genotype_of: Callable


NB201 = SearchSpace(
    name="nb201",
    ops=NB201_OPS,
    cell_types=("cell",),
    initial_mask=nb201.initial_mask,
    ntk_network=lambda num_classes, input_shape, init: nb201_supernet.ntk_network(
        num_classes, input_shape, init),
    linear_region_network=lambda num_classes, init: nb201_supernet.linear_region_network(
        num_classes, init),
    genotype_of=nb201.NB201Genotype.from_mask,
)

SPACES = {space.name: space for space in (NB201,)}


def get_space(name):
  """The `SearchSpace` called `name`; raises ValueError naming the allowed spaces."""
  if name not in SPACES:
    raise ValueError(f"space must be one of {tuple(SPACES)}; got {name!r}")
  return SPACES[name]
