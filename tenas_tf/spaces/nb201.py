"""NAS-Bench-201 cells as values: edge order, arch strings and alive masks.

A cell has 4 nodes; node i sums one op per edge j -> i (j < i). Edges are ordered
1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2, the order of the ops in an arch string
`|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`. Reference: NAS-Bench-201 (Dong & Yang, ICLR 2020)
section 2.1.
"""

import dataclasses

import numpy as np

from tenas_tf import checks
from tenas_tf.spaces.ops import NB201_OPS

NUM_NODES = 4
# (target node, source node) per edge, in arch-string order.
EDGES = tuple((i, j) for i in range(1, NUM_NODES) for j in range(i))
NUM_EDGES = len(EDGES)


def _malformed(arch_str, why):
  return ValueError(
      f"malformed NB201 arch string {arch_str!r}: {why}; expected the form "
      "'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' with op in " + str(NB201_OPS))


@dataclasses.dataclass(frozen=True)
class NB201Genotype:
  """One NB201 cell: the op on each of the 6 edges, in `EDGES` order.

  Example:
    >>> g = NB201Genotype.from_string('|nor_conv_3x3~0|+|none~0|skip_connect~1|+'
    ...                               '|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|')
    >>> g.ops[0]
    'nor_conv_3x3'
  """

  ops: tuple

  def __post_init__(self):
    if not isinstance(self.ops, tuple) or len(self.ops) != NUM_EDGES:
      raise ValueError(f"ops must be a tuple of {NUM_EDGES} op names; got {self.ops!r}")
    for op in self.ops:
      checks.one_of("op", op, NB201_OPS)

  @classmethod
  def from_string(cls, arch_str):
    """Parses `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`; raises ValueError naming the fault."""
    if not isinstance(arch_str, str):
      raise TypeError(f"arch string must be a str; got {type(arch_str).__name__}")
    groups = arch_str.split("+")
    if len(groups) != NUM_NODES - 1:
      raise _malformed(arch_str, f"{len(groups)} '+'-separated node groups, need {NUM_NODES - 1}")
    ops = []
    for node, group in enumerate(groups, start=1):
      if len(group) < 2 or group[0] != "|" or group[-1] != "|":
        raise _malformed(arch_str, f"node group {group!r} must start and end with '|'")
      items = group[1:-1].split("|")
      if len(items) != node:
        raise _malformed(arch_str, f"node {node} has {len(items)} inputs, needs {node}")
      for source, item in enumerate(items):
        op, sep, index = item.partition("~")
        if not sep or index != str(source):
          raise _malformed(arch_str, f"edge {item!r} must read '<op>~{source}'")
        if op not in NB201_OPS:
          raise _malformed(arch_str, f"unknown op {op!r}")
        ops.append(op)
    return cls(tuple(ops))

  def to_string(self):
    groups, start = [], 0
    for node in range(1, NUM_NODES):
      items = [f"{self.ops[start + j]}~{j}" for j in range(node)]
      groups.append("|" + "|".join(items) + "|")
      start += node
    return "+".join(groups)

  def __str__(self):
    return self.to_string()

  def to_json(self):
    """The JSON form (result.json's `genotype` for NB201): the arch string."""
    return self.to_string()

  @classmethod
  def from_json(cls, value):
    """Parses the JSON form, the arch string (as `from_string`)."""
    return cls.from_string(value)

  def alive_mask(self):
    """The [1, 6, 5] bool mask in which each edge keeps exactly its genotype op."""
    mask = np.zeros((1, NUM_EDGES, len(NB201_OPS)), dtype=bool)
    for edge, op in enumerate(self.ops):
      mask[0, edge, NB201_OPS.index(op)] = True
    return mask

  @classmethod
  def from_mask(cls, mask):
    """The genotype of a mask with exactly one alive op per edge."""
    mask = np.asarray(mask, dtype=bool)
    if mask.size != NUM_EDGES * len(NB201_OPS):
      raise ValueError(f"mask must hold {NUM_EDGES} x {len(NB201_OPS)} alive bits; "
                       f"got shape {mask.shape}")
    mask = mask.reshape(NUM_EDGES, len(NB201_OPS))
    counts = mask.sum(axis=1)
    if not np.all(counts == 1):
      raise ValueError(f"every edge needs exactly one alive op to form a genotype; "
                       f"alive counts per edge are {counts.tolist()}")
    return cls(tuple(NB201_OPS[int(i)] for i in mask.argmax(axis=1)))


def initial_mask():
  """The search's starting mask [1, 6, 5]: every op alive except `none`."""
  mask = np.ones((1, NUM_EDGES, len(NB201_OPS)), dtype=bool)
  mask[..., NB201_OPS.index("none")] = False
  return mask


def built_ops_of(mask):
  """Per edge, the names of the alive ops of a [1, 6, len(NB201_OPS)] mask.

  The `built_ops` of the network holding exactly those ops: the physically pruned network of a
  search mask, or a genotype's network (one op per edge) for `genotype.alive_mask()`.
  """
  mask = np.asarray(mask, dtype=bool).reshape(NUM_EDGES, len(NB201_OPS))
  return [[op for op, alive in zip(NB201_OPS, row) if alive] for row in mask]
