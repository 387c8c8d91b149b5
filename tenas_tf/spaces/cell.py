"""The cells of both spaces: one class per space for the supernet and for a genotype's network.

A cell is a DAG of `MixedEdge`s: node k sums the edges into it, each applied to its source state.
What a cell holds is data, `built_ops`: per edge, the op names built there. The supernet builds
several ops per edge and passes the alive mask to `call`; the network of a genotype builds
exactly the genotype's op per edge (an empty tuple for an edge the genotype does not use) and
calls without a mask, optionally with drop-path on the edges. The node loop (`Cell`) is shared by
both spaces, which differ only in their edges, their inputs and their output:

- `NB201Cell`: one input (state 0), nodes 1..3, edges j -> i for all j < i; the output is node 3.
- `DartsCell`: two preprocessed inputs (states 0, 1), nodes 2..5, edges from every earlier
  state; the output concatenates the 4 nodes.

An edge that builds no op adds exactly zero, so it is not run at all (a node with no built edge
is zero). The node sums then equal those of the physically pruned network, which the tests check.
Reference: NAS-Bench-201 (Dong & Yang, ICLR 2020) section 2.1; DARTS (Liu et al., ICLR 2019)
section 2.1.
"""

import keras
import tensorflow as tf

from tenas_tf import checks
from tenas_tf.spaces import batched_backward
from tenas_tf.spaces import darts
from tenas_tf.spaces import darts_ops
from tenas_tf.spaces import edge as edge_lib
from tenas_tf.spaces import grouped_cell_backward
from tenas_tf.spaces import init as init_lib
from tenas_tf.spaces import nb201
from tenas_tf.spaces import ops as ops_lib

_SERIAL_PACKAGE = "tenas_tf"
# Edge k of a cell seeded s draws its drop-path masks with seed s * _EDGE_SEEDS + k.
_EDGE_SEEDS = 16


class Cell(keras.layers.Layer):
  """Base of the cells: the edges as data and the node loop; a subclass adds inputs and output.

  A subclass's `__init__` calls this one, creates its own input layers, then `_add_edges`
  (`init_lib.initialize` draws weights in creation order, so this order is part of every seeded
  result). Its `build` and `call` run `_build_nodes` and `_run_nodes` on its states.

  Args:
    channels: C, the width of every node.
    space: "nb201" or "darts".
    edges: per edge, (target node's state index, source state index), grouped by target node.
    built_ops: per edge, the op names to build (default: every op of the space on every edge).
    init: initialisation scheme, `tenas_tf.spaces.init.INIT_SCHEMES`.
    skip_dead_ops: see `MixedEdge`.
    drop_path_rate: see `MixedEdge`; 0 turns it off.
    seed: int seed of the drop-path draws.
  """

  def __init__(self, channels, space, edges, built_ops, init, skip_dead_ops, drop_path_rate,
               seed, **kwargs):
    super().__init__(**kwargs)
    self.channels = checks.integer("channels", channels, 1)
    self._space = space
    self._edge_states = tuple(edges)
    if built_ops is None:
      built_ops = [edge_lib.OP_REGISTRIES[space].names] * len(self._edge_states)
    if isinstance(built_ops, str) or len(built_ops) != len(self._edge_states):
      raise ValueError(f"built_ops must list the ops of {len(self._edge_states)} edges; "
                       f"got {len(built_ops)}: {built_ops!r}")
    self.built_ops = [list(edge_ops) for edge_ops in built_ops]
    self.init = init_lib.check_init_scheme(init)
    self.skip_dead_ops = checks.boolean("skip_dead_ops", skip_dead_ops)
    self.drop_path_rate = checks.real("drop_path_rate", drop_path_rate, 0, below=1)
    self.seed = checks.integer("seed", seed)
    targets = [target for target, _ in self._edge_states]
    # [start, end) edge-index range of each node's input edges.
    self._node_edges = tuple((targets.index(t), len(targets) - targets[::-1].index(t))
                             for t in sorted(set(targets)))

  def _add_edges(self, strides_of):
    """Creates the edges, edge k with stride `strides_of(source state)`."""
    self.edges = [
        edge_lib.MixedEdge(self.channels, strides_of(source), self._space, edge_ops, self.init,
                           self.skip_dead_ops, self.drop_path_rate,
                           self.seed * _EDGE_SEEDS + index, name=f"edge_{source}_to_{target}")
        for index, ((target, source), edge_ops)
        in enumerate(zip(self._edge_states, self.built_ops))]

  def _build_nodes(self, state_shapes):
    """Builds every edge on its source's shape; returns the shapes of all states."""
    states = list(state_shapes)
    for start, end in self._node_edges:
      for index in range(start, end):
        self.edges[index].build(states[self._edge_states[index][1]])
      # Every input edge of a node gives its shape; take the first.
      states.append(self.edges[start].compute_output_shape(states[self._edge_states[start][1]]))
    return states

  def _run_nodes(self, states, alive, training):
    """Appends each node, the sum of its built edges, to `states` (a list) and returns it."""
    for start, end in self._node_edges:
      # An edge without ops adds zero: not run, unless the node has no other edge (zeros).
      indices = [k for k in range(start, end) if self.edges[k].op_layers] or [start]
      incoming = [self.edges[k](states[self._edge_states[k][1]],
                                None if alive is None else alive[k], training=training)
                  for k in indices]
      states.append(incoming[0] if len(incoming) == 1 else tf.add_n(incoming))
    return states

  def _jacobian_nodes(self, states, rows, alive):
    """`_run_nodes` for `batched_backward`: (all states, backward).

    The backward maps a list of cotangents per state (None: zero) to those of the cell's inputs,
    visiting the nodes last first, so each node's cotangent is complete before it flows on.
    """
    inputs = len(states)
    node_edges = []  # per node: [(source state, edge backward)]
    for start, end in self._node_edges:
      indices = [k for k in range(start, end) if self.edges[k].op_layers] or [start]
      sources = [self._edge_states[k][1] for k in indices]
      incoming = [self.edges[k].jacobian_forward(states[source], rows,
                                                 None if alive is None else alive[k])
                  for k, source in zip(indices, sources)]
      outputs = [output for output, _ in incoming]
      states.append(batched_backward.sum_in_order(outputs))
      node_edges.append([(source, backward) for source, (_, backward) in zip(sources, incoming)])

    def backward(cotangents):
      cotangents = list(cotangents)
      for node in reversed(range(len(node_edges))):
        node_cotangent = cotangents[inputs + node]
        if node_cotangent is None:
          continue
        for source, edge_backward in node_edges[node]:
          cotangents[source] = batched_backward.summed(cotangents[source],
                                                       edge_backward(node_cotangent))
      return cotangents[:inputs]
    return states, backward

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels, built_ops=self.built_ops, init=self.init,
                  skip_dead_ops=self.skip_dead_ops, drop_path_rate=self.drop_path_rate,
                  seed=self.seed)
    return config


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class NB201Cell(Cell):
  """An NB201 cell: node i = sum over j < i of edge(j -> i)(node j); the output is node 3.

  Edges are in `nb201.EDGES` order, named `edge_{j}_to_{i}`, each with its ops named by op.

  Args:
    channels: channels of every node.
    built_ops: per edge, the op names to build (default: all five ops on every edge). A
      genotype's network: `nb201.built_ops_of(genotype.alive_mask())`, one op per edge.
    init: initialisation scheme.
    skip_dead_ops: see `MixedEdge`.
    drop_path_rate: per-sample drop probability of each edge's output in training, except
      `skip_connect` and `none` edges; 0 turns it off (NB201's protocol has none).
    seed: int seed of the drop-path draws (edge k draws with seed `seed * 16 + k`).

  Call args:
    inputs: [B, H, W, channels].
    alive: [6, 5] alive bits (edges x `NB201_OPS`), or None: every built op alive.
    training: BatchNorm and drop-path mode.

  Returns:
    Node 3, [B, H, W, channels].

  Raises:
    ValueError: for a `built_ops` without 6 edges, an unknown op, or an invalid size or rate.

  Example:
    >>> genotype = NB201Genotype.from_string("|nor_conv_3x3~0|+|none~0|skip_connect~1|+"
    ...                                      "|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|")
    >>> cell = NB201Cell(16, nb201.built_ops_of(genotype.alive_mask()))
    >>> cell(tf.zeros([2, 32, 32, 16])).shape
    TensorShape([2, 32, 32, 16])

  Reference: NAS-Bench-201 (Dong & Yang, ICLR 2020) section 2.1.
  """

  def __init__(self, channels, built_ops=None, init="pytorch_default", skip_dead_ops=False,
               drop_path_rate=0.0, seed=0, **kwargs):
    super().__init__(channels, "nb201", nb201.EDGES, built_ops, init, skip_dead_ops,
                     drop_path_rate, seed, **kwargs)
    self._add_edges(lambda source: 1)

  def build(self, input_shape):
    self._build_nodes([tuple(input_shape)])

  def call(self, inputs, alive=None, training=None):
    return self._run_nodes([inputs], alive, training)[-1]

  def jacobian_forward(self, inputs, rows, alive=None):
    """Training-mode (outputs, backward) for `batched_backward`; `alive`: [6, 5] alive bits
    (a tensor, or numpy) or None (every built op alive). Every built op runs, times its alive bit
    (`MixedEdge.ops_and_bits`), so a traced forward serves every mask. The backward is grouped
    by node (`grouped_cell_backward`): the ops that read one node's cotangent or state share
    their passes over it."""
    if alive is not None:
      alive = tf.cast(alive, tf.float32)
    edges = [(source, target, *edge.ops_and_bits(None if alive is None else alive[index]))
             for index, ((target, source), edge) in enumerate(zip(self._edge_states, self.edges))]
    return grouped_cell_backward.cell_forward(inputs, edges, rows)

  def compute_output_shape(self, input_shape):
    return input_shape


@keras.saving.register_keras_serializable(package=_SERIAL_PACKAGE)
class DartsCell(Cell):
  """A DARTS cell: 2 preprocessed inputs, 4 nodes summing edges from earlier states, concatenated.

  preprocess0 = ReLU-conv1x1-BN (or `FactorizedReduce` when the previous cell reduced, so that
  both inputs have the same size), preprocess1 = ReLU-conv1x1-BN, both to `channels`; node k
  (state k + 2) sums the edges "k<-j" from its input states j < k + 2; output = concat(nodes)
  with 4 * `channels` channels. In a reduction cell the edges from the two cell inputs have
  stride 2. Edges are in `darts.EDGES` order, named `edge_{j}_to_{k + 2}`.

  Args:
    channels: C, the width of every node.
    reduction: whether this cell halves the spatial size.
    reduction_prev: whether the previous cell did (its first input is then twice as large).
    built_ops: per edge (in `darts.EDGES` order), the op names to build (default: all). A
      genotype's cell: `darts.built_ops_of(genotype.alive_mask())[cell type]`, one op on each
      of the 8 chosen edges, none on the other 6.
    init: initialisation scheme.
    skip_dead_ops: see `MixedEdge`.
    drop_path_rate: per-sample drop probability of every edge output but an identity skip, in
      training (a stride-2 `skip_connect` is a FactorizedReduce and is dropped); 0 turns it off.
    seed: int seed of the drop-path draws (edge k draws with seed `seed * 16 + k`).

  Call args:
    inputs: [s0, s1], the outputs of the cells two back and one back ([B, H, W, *]; s0 is
      [B, 2H, 2W, *] when `reduction_prev`).
    alive: [14, 8] alive bits of this cell type (edges x `DARTS_OPS`), or None: every built
      op alive.
    training: BatchNorm and drop-path mode.

  Returns:
    [B, H', W', 4 * channels], H' = ceil(H / 2) in a reduction cell, else H.

  Raises:
    ValueError: a `built_ops` without 14 edges, an unknown op, an invalid size or rate, or odd
      channels where a FactorizedReduce needs them even.

  Example:
    >>> built = darts.built_ops_of(TENAS_CIFAR10.alive_mask())[1]
    >>> cell = DartsCell(16, reduction=True, built_ops=built)
    >>> cell([tf.zeros([2, 32, 32, 48]), tf.zeros([2, 32, 32, 48])]).shape
    TensorShape([2, 16, 16, 64])

  Reference: Liu et al., DARTS (ICLR 2019) sections 2.1 and 3.3.
  """

  def __init__(self, channels, reduction=False, reduction_prev=False, built_ops=None,
               init="pytorch_default", skip_dead_ops=False, drop_path_rate=0.0, seed=0,
               **kwargs):
    super().__init__(channels, "darts", ((node + 2, state) for node, state in darts.EDGES),
                     built_ops, init, skip_dead_ops, drop_path_rate, seed, **kwargs)
    self.reduction = checks.boolean("reduction", reduction)
    self.reduction_prev = checks.boolean("reduction_prev", reduction_prev)
    self.preprocess0 = (darts_ops.FactorizedReduce(channels, init, name="preprocess0")
                        if reduction_prev else
                        ops_lib.ReLUConvBN(channels, 1, 1, init, name="preprocess0"))
    self.preprocess1 = ops_lib.ReLUConvBN(channels, 1, 1, init, name="preprocess1")
    self._add_edges(lambda source: 2 if reduction and source < 2 else 1)

  def build(self, input_shape):
    s0_shape, s1_shape = (tuple(shape) for shape in input_shape)
    self.preprocess0.build(s0_shape)
    self.preprocess1.build(s1_shape)
    self._build_nodes([self.preprocess0.compute_output_shape(s0_shape),
                       self.preprocess1.compute_output_shape(s1_shape)])

  def call(self, inputs, alive=None, training=None):
    s0, s1 = inputs
    states = [self.preprocess0(s0, training=training), self.preprocess1(s1, training=training)]
    return tf.concat(self._run_nodes(states, alive, training)[2:], axis=-1)

  def jacobian_forward(self, inputs, rows, alive=None):
    """Training-mode (outputs, backward) for `batched_backward`; `alive`: [14, 8] numpy or None.
    The backward returns the cotangents of [s0, s1]."""
    preprocessed = [batched_backward.forward(layer, state, rows)
                    for layer, state in zip((self.preprocess0, self.preprocess1), inputs)]
    states, nodes_backward = self._jacobian_nodes([p for p, _ in preprocessed], rows, alive)
    outputs, split = batched_backward.concatenated(
        [(node, lambda cotangents: cotangents) for node in states[2:]])

    def backward(cotangents):
      per_input = nodes_backward([None, None] + split(cotangents))
      # An input no built edge reads (a genotype's network) gets zero cotangents.
      return [batched_backward.zero_cotangents(cotangents, state)
              if flowing is None else preprocess_backward(flowing)
              for state, flowing, (_, preprocess_backward)
              in zip(inputs, per_input, preprocessed)]
    return outputs, backward

  def compute_output_shape(self, input_shape):
    s1_shape = self.preprocess1.compute_output_shape(tuple(input_shape[1]))
    # Edge 0 feeds node 0 from a cell input: it has the cell's stride.
    reduced = self.edges[0].compute_output_shape(s1_shape)
    return tuple(reduced[:3]) + (darts.NUM_NODES * self.channels,)

  def get_config(self):
    config = super().get_config()
    config.update(reduction=self.reduction, reduction_prev=self.reduction_prev)
    return config
