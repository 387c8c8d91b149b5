"""DARTS cells as values: edge order, genotypes in text and JSON form, and alive masks.

A DARTS cell has two inputs (states 0 and 1: the outputs of the two previous cells) and 4
intermediate nodes (states 2..5); node k sums one op on each of its 2 chosen inputs among the
states before it, and the cell outputs the concatenation of the 4 nodes. The supernet has every
input of every node: 2 + 3 + 4 + 5 = 14 edges per cell type, keyed "k<-j" (node k, input state j)
and ordered by that key, so node k owns the edge range `NODE_EDGES[k]`. A mask is bool
[2, 14, 8]: cell types (normal, reduce) x edges x `DARTS_OPS`.
Reference: DARTS (Liu et al., ICLR 2019) sections 2.1 and 2.4 (deriving a genotype); TE-NAS
(Chen et al., ICLR 2021) section 3.3 and appendix (its DARTS search and genotypes).
"""

import ast
import dataclasses
import json

import numpy as np

from tenas_tf import checks
from tenas_tf.spaces.darts_ops import DARTS_OPS

NUM_NODES = 4
CELL_TYPES = ("normal", "reduce")
# (node k, input state j) per edge, in the order of the sorted keys "k<-j".
EDGES = tuple(sorted(((k, j) for k in range(NUM_NODES) for j in range(k + 2)),
                     key=lambda edge: f"{edge[0]}<-{edge[1]}"))
NUM_EDGES = len(EDGES)
# [start, end) edge-index range of each node's input edges: (0, 2), (2, 5), (5, 9), (9, 14).
NODE_EDGES = tuple((EDGES.index((k, 0)), EDGES.index((k, k + 1)) + 1) for k in range(NUM_NODES))
CONCAT = tuple(range(2, 2 + NUM_NODES))
# Ops a genotype may name: every op but `none` (the reference never derives it).
GENOTYPE_OPS = DARTS_OPS[1:]
_PAIRS = 2 * NUM_NODES
_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")


def edge_index(node, state):
  """The edge index of node `node`'s input from state `state` (0, 1: cell inputs)."""
  return EDGES.index((node, state))


def _pairs(cell_type, pairs):
  """`pairs` as a tuple of (op, input) tuples, validated; raises ValueError naming the fault."""
  # Lists and tuples only: a set or dict of 8 pairs would be read in an arbitrary order.
  if not isinstance(pairs, (list, tuple)) or len(pairs) != _PAIRS:
    raise ValueError(f"{cell_type} must list {_PAIRS} (op, input) pairs (pairs 2k and 2k+1 feed "
                     f"node k); got {pairs!r}")
  normalised = []
  for position, pair in enumerate(pairs):
    node = position // 2
    if (not isinstance(pair, (list, tuple)) or len(pair) != 2 or not isinstance(pair[0], str)
        or not isinstance(pair[1], int) or isinstance(pair[1], bool)):
      raise ValueError(f"{cell_type} pair {position} must be (op name, int input); got {pair!r}")
    op, state = pair
    try:
      checks.one_of("op", op, GENOTYPE_OPS)
    except ValueError as error:
      raise ValueError(f"{cell_type} pair {position}: {error}") from None
    if not 0 <= state < node + 2:
      raise ValueError(f"{cell_type} pair {position} feeds node {node}, whose input must be in "
                       f"[0, {node + 1}] (0 and 1: the cell inputs; j >= 2: node j - 2); "
                       f"got {state}")
    normalised.append((op, state))
  for node in range(NUM_NODES):
    first, second = normalised[2 * node][1], normalised[2 * node + 1][1]
    if first == second:
      raise ValueError(f"{cell_type} node {node} (pairs {2 * node}, {2 * node + 1}) needs two "
                       f"distinct inputs; got input {first} twice")
  return tuple(normalised)


def _concat(name, concat):
  # Ints in a list, tuple or range, so that e.g. [2.0, 3.0, 4.0, 5.0] or a dict is not read as one.
  if (not isinstance(concat, (list, tuple, range))
      or any(not isinstance(v, int) or isinstance(v, bool) for v in concat)
      or tuple(concat) != CONCAT):
    raise ValueError(f"{name} must be {list(CONCAT)} (every node feeds the cell output); "
                     f"got {concat!r}")
  return CONCAT


@dataclasses.dataclass(frozen=True, kw_only=True)
class DartsGenotype:
  """A DARTS architecture: per cell type, 2 (op, input) pairs for each of the 4 nodes.

  Pairs 2k and 2k+1 feed node k; input 0 and 1 are the cell inputs, input j >= 2 is node j - 2.
  Ops are `DARTS_OPS` without `none`; the two inputs of a node differ; every node is
  concatenated (`*_concat` is [2, 3, 4, 5]). Lists are stored as tuples, so the value is
  immutable and hashable. Three lossless forms:
  - `to_string` / `from_string`: DARTS' text form, `Genotype(normal=[('sep_conv_3x3', 0), ...],
    normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])` (`range(2, 6)` is read
    too);
  - `to_json` / `from_json`: {"normal": [[op, input], ...], "normal_concat": [2, 3, 4, 5],
    "reduce": [...], "reduce_concat": [2, 3, 4, 5]} (a dict, or its JSON text);
  - `alive_mask` / `from_mask`: the [2, 14, 8] single-path mask (pairs come back with the lower
    input first in each node, as the reference derives them).

  Raises:
    ValueError: naming the cell type, the pair and the rule broken.

  Example:
    >>> g = DartsGenotype.from_string(str(TENAS_CIFAR10))
    >>> g == TENAS_CIFAR10, g.normal[0]
    (True, ('dil_conv_3x3', 0))

  Reference: Liu et al., DARTS (ICLR 2019) section 2.4 and its `genotypes.py`.
  """

  normal: tuple
  normal_concat: tuple = CONCAT
  reduce: tuple
  reduce_concat: tuple = CONCAT

  def __post_init__(self):
    # Frozen: normalise the given sequences to validated tuples once, here.
    object.__setattr__(self, "normal", _pairs("normal", self.normal))
    object.__setattr__(self, "reduce", _pairs("reduce", self.reduce))
    object.__setattr__(self, "normal_concat", _concat("normal_concat", self.normal_concat))
    object.__setattr__(self, "reduce_concat", _concat("reduce_concat", self.reduce_concat))

  def cell(self, cell_type):
    """The 8 (op, input) pairs of `cell_type` ("normal" or "reduce")."""
    return getattr(self, checks.one_of("cell_type", cell_type, CELL_TYPES))

  # --- JSON form -------------------------------------------------------------------------------

  def to_json(self):
    """The JSON-ready dict (result.json's `genotype` for DARTS)."""
    return {"normal": [list(p) for p in self.normal], "normal_concat": list(self.normal_concat),
            "reduce": [list(p) for p in self.reduce], "reduce_concat": list(self.reduce_concat)}

  @classmethod
  def from_json(cls, value):
    """Parses the JSON form: a dict, or its JSON text."""
    if isinstance(value, str):
      try:
        value = json.loads(value)
      except json.JSONDecodeError as error:
        raise ValueError(f"DARTS genotype JSON is not valid JSON ({error}): {value!r}") from None
    if not isinstance(value, dict) or set(value) != set(_FIELDS):
      keys = sorted(value) if isinstance(value, dict) else type(value).__name__
      raise ValueError(f"DARTS genotype JSON must be an object with exactly the keys "
                       f"{list(_FIELDS)}; got {keys}")
    return cls(**value)

  # --- text form -------------------------------------------------------------------------------

  def to_string(self):
    """DARTS' text form `Genotype(normal=[...], normal_concat=[2, 3, 4, 5], reduce=..., ...)`."""
    return (f"Genotype(normal={list(self.normal)!r}, normal_concat={list(self.normal_concat)!r}, "
            f"reduce={list(self.reduce)!r}, reduce_concat={list(self.reduce_concat)!r})")

  def __str__(self):
    return self.to_string()

  @classmethod
  def from_string(cls, text):
    """Parses the text form (keyword or positional fields; `range(2, 6)` allowed for concat).

    Read with `ast` (never evaluated); raises ValueError naming the fault.
    """
    if not isinstance(text, str):
      raise TypeError(f"genotype text must be a str; got {type(text).__name__}")
    try:
      call = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as error:
      raise _malformed(text, f"not a Python expression ({error.msg})") from None
    if (not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name)
        or call.func.id != "Genotype"):
      raise _malformed(text, "it must be a call Genotype(...)")
    positional = dict(zip(_FIELDS, call.args))
    if len(call.args) > len(_FIELDS) or any(k.arg is None for k in call.keywords):
      raise _malformed(text, "too many arguments")
    fields = dict(positional, **{k.arg: k.value for k in call.keywords})
    if set(fields) != set(_FIELDS) or len(call.args) + len(call.keywords) != len(_FIELDS):
      raise _malformed(text, f"it must give exactly the fields {list(_FIELDS)}")
    return cls(**{name: _literal(text, node) for name, node in fields.items()})

  @classmethod
  def parse(cls, value):
    """A genotype given in any of its forms: a `DartsGenotype`, the JSON form (a dict, as in
    result.json, or its JSON text) or DARTS' text form; raises ValueError naming the fault."""
    if isinstance(value, cls):
      return value
    if isinstance(value, dict) or (isinstance(value, str) and value.lstrip().startswith("{")):
      return cls.from_json(value)
    if not isinstance(value, str):
      raise ValueError(f"a DARTS genotype must be a DartsGenotype, its JSON form (dict or text) "
                       f"or DARTS' text form Genotype(...); got {type(value).__name__} {value!r}")
    return cls.from_string(value)

  # --- masks -----------------------------------------------------------------------------------

  def alive_mask(self):
    """The [2, 14, 8] bool mask: each chosen (node, input) edge keeps exactly its op."""
    mask = np.zeros((len(CELL_TYPES), NUM_EDGES, len(DARTS_OPS)), dtype=bool)
    for cell, cell_type in enumerate(CELL_TYPES):
      for position, (op, state) in enumerate(self.cell(cell_type)):
        mask[cell, edge_index(position // 2, state), DARTS_OPS.index(op)] = True
    return mask

  @classmethod
  def from_mask(cls, mask):
    """The genotype of a mask whose nodes keep exactly 2 input edges with one op each.

    Per node the pairs come in input order (the reference ranks a node's inputs by their best
    op weight; kept edges tie at 1.0 and the lower input comes first).

    Raises:
      ValueError: wrong shape, an edge with several alive ops, a node without exactly 2 live
        input edges, or an alive `none`.
    """
    mask = np.asarray(mask, dtype=bool)
    shape = (len(CELL_TYPES), NUM_EDGES, len(DARTS_OPS))
    if mask.shape != shape:
      raise ValueError(f"mask must have shape {shape}; got {mask.shape}")
    counts = mask.sum(axis=-1)
    if np.any(counts > 1):
      cell, edge = (int(i) for i in np.argwhere(counts > 1)[0])
      raise ValueError(f"every live edge needs exactly one alive op to form a genotype; "
                       f"{CELL_TYPES[cell]} edge {edge} ({_key(edge)}) has {counts[cell, edge]}")
    cells = {}
    for cell, cell_type in enumerate(CELL_TYPES):
      pairs = []
      for node, (start, end) in enumerate(NODE_EDGES):
        live = [edge for edge in range(start, end) if counts[cell, edge]]
        if len(live) != 2:
          raise ValueError(f"every node needs exactly 2 live input edges to form a genotype; "
                           f"{cell_type} node {node} has {len(live)}: "
                           f"{[_key(edge) for edge in live]}")
        pairs.extend((DARTS_OPS[int(np.argmax(mask[cell, edge]))], EDGES[edge][1])
                     for edge in live)
      cells[cell_type] = pairs
    return cls(**cells)


def _key(edge):
  node, state = EDGES[edge]
  return f"{node}<-{state}"


def _malformed(text, why):
  return ValueError(f"malformed DARTS genotype text {text!r}: {why}; expected "
                    "\"Genotype(normal=[('sep_conv_3x3', 0), ...8 pairs], normal_concat=[2, 3, 4, "
                    "5], reduce=[...], reduce_concat=[2, 3, 4, 5])\"")


def _literal(text, node):
  """A field's value: a Python literal, or `range(a, b)` (DARTS writes concat that way)."""
  if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
      and not node.keywords):
    try:
      return list(range(*(ast.literal_eval(arg) for arg in node.args)))
    except (ValueError, TypeError):
      raise _malformed(text, f"bad range {ast.unparse(node)}") from None
  try:
    return ast.literal_eval(node)
  except ValueError:
    raise _malformed(text, f"{ast.unparse(node)} is not a literal") from None


def built_ops_of(mask):
  """Per cell type, per edge, the names of the alive ops of a [2, 14, 8] mask.

  The `built_ops` of the network holding exactly those ops: the physically pruned network of a
  search mask, or a genotype's cells (one op on each chosen edge, none on the others) for
  `genotype.alive_mask()`.
  """
  mask = np.asarray(mask, dtype=bool).reshape(len(CELL_TYPES), NUM_EDGES, len(DARTS_OPS))
  return [[[op for op, alive in zip(DARTS_OPS, row) if alive] for row in cell] for cell in mask]


def initial_mask():
  """The search's starting mask [2, 14, 8]: every op alive except `none`."""
  mask = np.ones((len(CELL_TYPES), NUM_EDGES, len(DARTS_OPS)), dtype=bool)
  mask[..., DARTS_OPS.index("none")] = False
  return mask


# The two genotypes TE-NAS published (retrained by the authors). Reference: TE-NAS (Chen et al.,
# ICLR 2021), its DARTS-space results on CIFAR-10 and ImageNet.
TENAS_CIFAR10 = DartsGenotype(
    normal=[("dil_conv_3x3", 0), ("sep_conv_5x5", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 2),
            ("skip_connect", 0), ("dil_conv_5x5", 1), ("sep_conv_3x3", 1), ("sep_conv_5x5", 3)],
    reduce=[("sep_conv_5x5", 0), ("sep_conv_5x5", 1), ("sep_conv_5x5", 1), ("sep_conv_5x5", 2),
            ("sep_conv_3x3", 1), ("sep_conv_3x3", 3), ("sep_conv_5x5", 2), ("sep_conv_3x3", 4)])
TENAS_IMAGENET = DartsGenotype(
    normal=[("sep_conv_3x3", 0), ("skip_connect", 1), ("dil_conv_5x5", 1), ("sep_conv_3x3", 2),
            ("sep_conv_3x3", 0), ("dil_conv_5x5", 3), ("sep_conv_3x3", 0), ("dil_conv_3x3", 4)],
    reduce=[("dil_conv_3x3", 0), ("sep_conv_5x5", 1), ("dil_conv_3x3", 0), ("sep_conv_3x3", 2),
            ("sep_conv_3x3", 0), ("dil_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_5x5", 4)])
