"""The NB201 network of a genotype: file round trip, the pruned supernet and the explicit DAG as
oracles, drop-path, errors."""

import os
import tempfile

from absl.testing import absltest
import keras
import numpy as np
import tensorflow as tf

from tenas_tf.spaces import nb201
from tenas_tf.spaces import DropPath, NB201Cell, NB201Network, NB201SearchNetwork
from tests import testing_utils

ARCH = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|"
# Node 3 has no input but `none`: the cell's output is zero whatever its input.
DEAD_ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|none~1|none~2|"


def _images(count=4, size=32, seed=0):
  return np.random.default_rng(seed).normal(size=(count, size, size, 3)).astype("float32")


def _small_net(arch=ARCH, **kwargs):
  net = NB201Network(arch, num_classes=10, channels=4, cells_per_stage=1, **kwargs)
  net.build((None, 32, 32, 3))
  return net


def _genotype_cell(arch, channels=4, **kwargs):
  """The `NB201Cell` of genotype `arch`: exactly its op on each edge."""
  built = nb201.built_ops_of(nb201.NB201Genotype.from_string(arch).alive_mask())
  return NB201Cell(channels, built, **kwargs)


class NB201NetworkTest(absltest.TestCase):

  def test_keras_file_round_trip_is_bit_identical(self):
    net = _small_net(drop_path_rate=0.2, seed=7)
    x = _images()
    net(x, training=True)  # advances the drop-path counters, which are saved too
    testing_utils.randomise_bn_statistics(net)
    tmp = self.enter_context(tempfile.TemporaryDirectory())
    path = os.path.join(tmp, "net.keras")
    net.save(path)
    loaded = keras.saving.load_model(path)
    self.assertIsInstance(loaded, NB201Network)
    self.assertEqual(loaded.get_config(), net.get_config())
    self.assertEqual([v.path for v in loaded.weights], [v.path for v in net.weights])
    for original, reloaded in zip(net.get_weights(), loaded.get_weights()):
      np.testing.assert_array_equal(original, reloaded)
    np.testing.assert_array_equal(loaded(x, training=False).numpy(),
                                  net(x, training=False).numpy())
    # Training mode too: same batch statistics and the same drop-path draws.
    np.testing.assert_array_equal(loaded(x, training=True).numpy(),
                                  net(x, training=True).numpy())

  def test_config_holds_the_arch_string(self):
    config = _small_net(nb201.NB201Genotype.from_string(ARCH)).get_config()
    self.assertEqual(config["genotype"], ARCH)
    self.assertEqual((config["channels"], config["cells_per_stage"]), (4, 1))

  def test_equals_the_physically_pruned_supernet(self):
    genotype = nb201.NB201Genotype.from_string(ARCH)
    supernet = NB201SearchNetwork(4, 1, 10, built_ops=nb201.built_ops_of(genotype.alive_mask()),
                                  name="net")
    supernet(_images(2))
    supernet.set_alive(genotype.alive_mask())
    net = _small_net(name="net")
    testing_utils.randomise_bn_statistics(supernet)
    # Same layers, same paths: every variable of the network is one of the supernet's.
    self.assertEqual(testing_utils.copy_matching_weights(supernet, net), len(net.variables))
    x = _images()
    for training in (False, True):
      np.testing.assert_allclose(net(x, training=training).numpy(),
                                 supernet(x, training=training).numpy(),
                                 **testing_utils.tolerance(np.float32))

  def test_cell_is_the_genotype_dag(self):
    """node1 = o01(x), node2 = o02(x) + o12(node1), node3 = o03(x) + o13(node1) + o23(node2),
    written out from NB201's definition with the cell's own op layers."""
    cell = _genotype_cell(ARCH)
    x = _images(2, 8)[..., :1].repeat(4, -1)
    cell(x)
    testing_utils.randomise_bn_statistics(cell)
    self.assertEqual([edge.built_ops for edge in cell.edges],
                     [(op,) for op in nb201.NB201Genotype.from_string(ARCH).ops])
    op = {edge.name: edge.op_layers[0] for edge in cell.edges}
    for training in (False, True):
      run = lambda name, v: op[name](v, training=training)  # pylint: disable=cell-var-from-loop
      node1 = run("edge_0_to_1", x)
      node2 = run("edge_0_to_2", x) + run("edge_1_to_2", node1)
      node3 = run("edge_0_to_3", x) + run("edge_1_to_3", node1) + run("edge_2_to_3", node2)
      np.testing.assert_allclose(cell(x, training=training).numpy(), node3.numpy(),
                                 **testing_utils.tolerance(np.float32))

  def test_none_edges_have_no_weights_and_a_dead_cell_outputs_zeros(self):
    cell = _genotype_cell(ARCH)
    cell.build((None, 8, 8, 4))
    names = sorted({v.path.split("/")[1] for v in cell.weights})
    self.assertEqual(names, ["edge_0_to_1", "edge_1_to_3", "edge_2_to_3"])  # convolutions only
    dead = _genotype_cell(DEAD_ARCH)
    out = dead(np.ones((2, 8, 8, 4), "float32"), training=True)
    np.testing.assert_array_equal(out.numpy(), np.zeros((2, 8, 8, 4)))

  def test_drop_path_drops_whole_samples_in_training_only(self):
    layer = DropPath(0.5, seed=3)
    x = np.random.default_rng(0).uniform(1.0, 2.0, size=(400, 3, 3, 2)).astype("float32")
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    out = layer(x, training=True).numpy()
    dropped = np.all(out == 0, axis=(1, 2, 3))
    np.testing.assert_allclose(out[~dropped], x[~dropped] / 0.5, rtol=1e-6)
    self.assertBetween(dropped.mean(), 0.4, 0.6)
    # Per sample: a sample is never partly dropped.
    self.assertTrue(np.all(np.any(out != 0, axis=(1, 2, 3)) == ~dropped))
    # The next training call draws anew; a layer at the same call count draws the same.
    self.assertEqual(int(layer.calls.numpy()), 1)
    self.assertFalse(np.array_equal(layer(x, training=True).numpy(), out))
    twin = DropPath(0.5, seed=3)
    np.testing.assert_array_equal(twin(x, training=True).numpy(), out)

  def test_drop_path_skips_identity_and_none_edges(self):
    cell = _genotype_cell(ARCH, drop_path_rate=0.3, seed=2)
    dropping = [edge.name for edge in cell.edges if edge.drop_path is not None]
    # Not `none` 0_to_2, not skip_connect 1_to_2.
    self.assertEqual(dropping, ["edge_0_to_1", "edge_0_to_3", "edge_1_to_3", "edge_2_to_3"])
    self.assertEqual([cell.edges[k].drop_path.seed for k in (0, 3, 4, 5)],
                     [2 * 16 + k for k in (0, 3, 4, 5)])
    self.assertEqual([edge.drop_path for edge in _genotype_cell(ARCH).edges], [None] * 6)

  def test_bad_arguments_are_refused_with_the_value(self):
    with self.assertRaisesRegex(ValueError, "unknown op 'conv3x3'"):
      NB201Network("|conv3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with self.assertRaisesRegex(ValueError, "channels must be an int >= 1; got 0"):
      NB201Network(ARCH, channels=0)
    with self.assertRaisesRegex(ValueError, r"drop_path_rate must be a float in \[0, 1\); got 1.0"):
      NB201Network(ARCH, drop_path_rate=1.0)
    with self.assertRaisesRegex(ValueError, r"rate must be a float in \[0, 1\); got -0.1"):
      DropPath(-0.1)
    with self.assertRaisesRegex(ValueError, "seed must be an int; got 1.5"):
      NB201Network(ARCH, seed=1.5)

  def test_full_size_network_has_nb201_shape(self):
    net = NB201Network(ARCH, num_classes=10)
    net.build((None, 32, 32, 3))
    self.assertLen([layer for layer in net.body if isinstance(layer, NB201Cell)], 15)
    self.assertEqual(net.classifier.kernel.shape, (64, 10))
    self.assertEqual(net(tf.zeros([2, 32, 32, 3])).dtype, tf.float32)


if __name__ == "__main__":
  absltest.main()
