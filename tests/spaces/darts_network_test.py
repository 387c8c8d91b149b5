"""The DARTS networks of a genotype: the pruned supernet cell and the explicit DAG as oracles,
shapes, drop-path, the auxiliary output and loss, file round trip, and parameter counts against
DARTS' and TE-NAS' papers."""

import json
import os
import subprocess
import sys
import tempfile

from absl.testing import absltest
import keras
import numpy as np
import tensorflow as tf

from tenas_tf.spaces import darts
from tenas_tf.spaces import AuxiliaryHead, DartsCell, DartsNetwork, DartsStem
from tenas_tf.spaces import DartsGenotype, TENAS_CIFAR10, TENAS_IMAGENET
from tests import testing_utils

# Every op kind; normal skips are identities, the reduce skips on the cell inputs are
# FactorizedReduces (strided), the one on node 2 (pair 7) an identity again.
TINY = DartsGenotype(
    normal=[("sep_conv_3x3", 0), ("skip_connect", 1), ("max_pool_3x3", 0), ("dil_conv_3x3", 2),
            ("avg_pool_3x3", 1), ("skip_connect", 3), ("skip_connect", 0), ("sep_conv_5x5", 4)],
    reduce=[("max_pool_3x3", 0), ("skip_connect", 1), ("avg_pool_3x3", 1), ("dil_conv_5x5", 2),
            ("skip_connect", 0), ("max_pool_3x3", 3), ("sep_conv_3x3", 1), ("skip_connect", 4)])
# DARTS' own second-order cell (DARTS paper, its genotypes.py `DARTS_V2`): 3.3M parameters at
# C=36, 20 cells (DARTS paper table 1), the check that the CIFAR skeleton is DARTS'.
DARTS_V2 = DartsGenotype.from_string(
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")


def _images(count=2, size=32, seed=0):
  return np.random.default_rng(seed).normal(size=(count, size, size, 3)).astype("float32")


def _tiny_net(**kwargs):
  options = dict(num_classes=10, channels=4, num_cells=5, auxiliary_weight=0.4)
  options.update(kwargs)
  net = DartsNetwork(TINY, **options)
  net.build((None, 32, 32, 3))
  return net


def _genotype_cell(channels, genotype, reduction=False, reduction_prev=False, **kwargs):
  """The `DartsCell` of `genotype`'s cell type: exactly its op on each chosen edge."""
  built = darts.built_ops_of(genotype.alive_mask())[1 if reduction else 0]
  return DartsCell(channels, reduction, reduction_prev, built, **kwargs)


def _count(variables):
  return sum(int(np.prod(v.shape)) for v in variables)


def _paper_count(genotype, channels, num_cells, num_classes, variant):
  """Trainable parameters of DARTS' evaluation network without its auxiliary head, counted
  from the op definitions (DARTS paper section 3.1; its `operations.py`, `model.py`), not from
  Keras."""
  bn = lambda c: 2 * c
  sep = lambda k, c: 2 * (k * k * c + c * c + bn(c))
  dil = lambda k, c: k * k * c + c * c + bn(c)
  op_params = {"sep_conv_3x3": lambda c: sep(3, c), "sep_conv_5x5": lambda c: sep(5, c),
               "dil_conv_3x3": lambda c: dil(3, c), "dil_conv_5x5": lambda c: dil(5, c),
               "max_pool_3x3": lambda c: 0, "avg_pool_3x3": lambda c: 0}
  if variant == "cifar":
    total, c_pp, c_p = 27 * 3 * channels + bn(3 * channels), 3 * channels, 3 * channels
  else:
    half = channels // 2
    total = 27 * half + bn(half) + 9 * half * channels + bn(channels)  # stem0
    total += 9 * channels * channels + bn(channels)  # stem1
    c_pp, c_p = channels, channels
  c = channels
  for index in range(num_cells):
    reduction = index in (num_cells // 3, 2 * num_cells // 3)
    c *= 2 if reduction else 1
    # ReLU-conv1x1-BN, or after a reduction FactorizedReduce (two 1x1 convs to c / 2, BN):
    # the same count.
    total += c_pp * c + bn(c)
    total += c_p * c + bn(c)
    for op, state in genotype.cell("reduce" if reduction else "normal"):
      if op == "skip_connect":
        total += c * c + bn(c) if reduction and state < 2 else 0
      else:
        total += op_params[op](c)
    c_pp, c_p = c_p, 4 * c
  return total + c_p * num_classes + num_classes


def _darts_count(net):
  """DARTS' convention (`utils.count_parameters_in_MB`): trainable, auxiliary head excluded."""
  return _count(net.trainable_variables) - _count(net.auxiliary_head.trainable_variables)


class DartsCellTest(absltest.TestCase):

  def _inputs(self):
    x = [_images(3, 8, 0)[..., :2].repeat(4, -1), _images(3, 8, 1)[..., :2].repeat(6, -1)]
    x_reduced_prev = [_images(3, 16, 2)[..., :2].repeat(4, -1), x[1]]
    return (("normal", False, False, x), ("reduce", True, True, x_reduced_prev))

  def test_equals_the_masked_supernet_cell(self):
    # The cell with every op on every edge, masked to the genotype, against the genotype's cell
    # (one op per chosen edge, no mask).
    mask = TINY.alive_mask()
    for kind, reduction, reduction_prev, inputs in self._inputs():
      row = darts.CELL_TYPES.index(kind)
      cell = _genotype_cell(4, TINY, reduction, reduction_prev, name="cell")
      supernet_cell = DartsCell(4, reduction, reduction_prev, name="cell")
      alive = tf.constant(mask[row], tf.float32)
      cell(inputs)
      supernet_cell(inputs, alive)
      testing_utils.randomise_bn_statistics(supernet_cell)
      self.assertEqual(testing_utils.copy_matching_weights(supernet_cell, cell),
                       len(cell.variables))
      for training in (False, True):
        np.testing.assert_allclose(cell(inputs, training=training).numpy(),
                                   supernet_cell(inputs, alive, training=training).numpy(),
                                   **testing_utils.tolerance(np.float32), err_msg=kind)

  def test_cell_is_the_genotype_dag(self):
    """node k = op(2k)(state j) + op(2k+1)(state j'), the cell output their concatenation,
    written out from the genotype's pairs with the cell's own layers."""
    for kind, reduction, reduction_prev, inputs in self._inputs():
      cell = _genotype_cell(4, TINY, reduction, reduction_prev)
      cell(inputs)
      testing_utils.randomise_bn_statistics(cell)
      edges = {edge.name: edge for edge in cell.edges}
      for training in (False, True):
        states = [cell.preprocess0(inputs[0], training=training),
                  cell.preprocess1(inputs[1], training=training)]
        for node in range(4):
          total = 0.0
          for op, state in TINY.cell(kind)[2 * node:2 * node + 2]:
            edge = edges[f"edge_{state}_to_{node + 2}"]
            self.assertEqual(edge.built_ops, (op,))
            total += edge.op_layers[0](states[state], training=training)
          states.append(total)
        np.testing.assert_allclose(cell(inputs, training=training).numpy(),
                                   tf.concat(states[2:], -1).numpy(),
                                   **testing_utils.tolerance(np.float32), err_msg=kind)
      # The 6 edges the genotype does not choose build nothing.
      self.assertEqual(sum(not edge.op_layers for edge in cell.edges), 6)

  def test_shapes_and_drop_path_on_every_op_but_identities(self):
    def drops(cell):  # per genotype pair, whether its edge drops
      edges = {edge.name: edge for edge in cell.edges}
      return [edges[f"edge_{state}_to_{position // 2 + 2}"].drop_path is not None
              for position, (_, state) in
              enumerate(TINY.cell("reduce" if cell.reduction else "normal"))]
    normal = _genotype_cell(4, TINY, drop_path_rate=0.2)
    self.assertEqual(normal([tf.zeros([2, 9, 9, 12]), tf.zeros([2, 9, 9, 12])]).shape,
                     (2, 9, 9, 16))
    self.assertEqual(drops(normal), [True, False, True, True, True, False, False, True])
    reduce = _genotype_cell(6, TINY, reduction=True, reduction_prev=True, drop_path_rate=0.2)
    self.assertEqual(reduce([tf.zeros([2, 18, 18, 5]), tf.zeros([2, 9, 9, 7])]).shape,
                     (2, 5, 5, 24))
    # Strided skips (FactorizedReduce) are dropped; the skip on node 2 is an identity.
    self.assertEqual(drops(reduce), [True] * 7 + [False])
    self.assertEqual([edge.drop_path for edge in _genotype_cell(4, TINY).edges], [None] * 14)


class DartsNetworkTest(absltest.TestCase):

  def test_cifar_network_reduces_at_a_third_and_two_thirds_with_the_head_at_two_thirds(self):
    net = _tiny_net()
    self.assertEqual([cell.reduction for cell in net.cell_layers],
                     [False, True, False, True, False])
    self.assertEqual([cell.reduction_prev for cell in net.cell_layers],
                     [False, False, True, False, True])
    self.assertEqual(net.auxiliary_index, 3)
    # Walk the cells by hand: 32x32 -> 16x16 -> 8x8; nodes C, 2C, 2C, 4C, 4C, 4 nodes each.
    x = _images()
    s0, s1 = net.stem(x)
    self.assertEqual(s0.shape, (2, 32, 32, 12))
    shapes = []
    for cell in net.cell_layers:
      s0, s1 = s1, cell([s0, s1])
      shapes.append(tuple(s1.shape))
    self.assertEqual(shapes, [(2, 32, 32, 16), (2, 16, 16, 32), (2, 16, 16, 32), (2, 8, 8, 64),
                              (2, 8, 8, 64)])
    main, auxiliary = net(x, training=True)  # the auxiliary logits: a second output in training
    self.assertEqual((main.shape, auxiliary.shape), ((2, 10), (2, 10)))
    self.assertEqual(net.auxiliary_head.conv_wide.kernel.shape, (2, 2, 128, 768))
    logits = net(x, training=False)  # inference: the main logits only
    self.assertEqual((logits.shape, logits.dtype), ((2, 10), tf.float32))
    self.assertEqual(net.predict(x, verbose=0).shape, (2, 10))
    headless = _tiny_net(auxiliary_weight=0.0)
    self.assertIsNone(headless.auxiliary_head)
    self.assertEqual(headless(x, training=True).shape, (2, 10))

  def test_imagenet_network_has_the_three_stride_two_stem_and_its_head(self):
    net = DartsNetwork(TINY, num_classes=7, channels=4, num_cells=3, variant="imagenet",
                       auxiliary_weight=0.4)
    net.build((None, 224, 224, 3))
    self.assertEqual([cell.reduction for cell in net.cell_layers], [False, True, True])
    self.assertTrue(net.cell_layers[0].reduction_prev)  # stem0 is twice stem1's size
    x = np.zeros((1, 224, 224, 3), "float32")
    self.assertEqual([tuple(s.shape) for s in net.stem(x)], [(1, 56, 56, 4), (1, 28, 28, 4)])
    self.assertEqual([logits.shape for logits in net(x, training=True)], [(1, 7), (1, 7)])
    self.assertEqual(net.auxiliary_head.pool.strides, (2, 2))
    self.assertIsNone(net.auxiliary_head.bn_wide)  # DARTS' ImageNet head has no BN there

  def test_drop_path_is_the_identity_at_inference(self):
    x = _images(8)
    dropping, plain = _tiny_net(drop_path_rate=0.5, seed=3, name="net"), _tiny_net(name="net")
    testing_utils.randomise_bn_statistics(dropping)
    # Every variable of `plain` is one of `dropping`'s, which also has the drop-path counters.
    testing_utils.copy_matching_weights(dropping, plain)
    np.testing.assert_array_equal(dropping(x, training=False).numpy(),
                                  plain(x, training=False).numpy())
    self.assertFalse(np.allclose(dropping(x, training=True)[0].numpy(),
                                 plain(x, training=True)[0].numpy()))

  def test_training_loss_adds_the_weighted_auxiliary_loss_and_evaluation_does_not(self):
    net = _tiny_net(auxiliary_weight=0.4)
    self.assertEqual(net.losses, [])  # no losses of its own: the compiled loss is all there is
    x = _images(8)
    y = keras.utils.to_categorical(np.arange(8) % 10, 10)
    loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    main, auxiliary = net(x, training=True)
    expected = float(loss(y, main)) + 0.4 * float(loss(y, auxiliary))
    accuracy = float(np.mean(np.argmax(main, -1) == np.argmax(y, -1)))
    # Learning rate 0: the step leaves the weights unchanged (training mode normalises with the
    # batch's statistics, so the moving ones it updates do not matter).
    for run_eagerly in (True, False):
      net.compile(optimizer=keras.optimizers.SGD(0.0), loss=loss, run_eagerly=run_eagerly,
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
      logs = net.train_on_batch(x, y, return_dict=True)
      self.assertAlmostEqual(logs["loss"], expected, places=5)
      self.assertAlmostEqual(logs["accuracy"], accuracy)  # of the main logits
      inference = net(x, training=False)
      logs = net.test_on_batch(x, y, return_dict=True)
      self.assertAlmostEqual(logs["loss"], float(loss(y, inference)), places=5)
      self.assertAlmostEqual(logs["accuracy"],
                             float(np.mean(np.argmax(inference, -1) == np.argmax(y, -1))))

  def test_keras_file_round_trip_is_bit_identical(self):
    net = _tiny_net(drop_path_rate=0.2, seed=7)
    x = _images()
    net(x, training=True)  # advances the drop-path counters, which are saved too
    testing_utils.randomise_bn_statistics(net)
    path = os.path.join(self.enter_context(tempfile.TemporaryDirectory()), "net.keras")
    net.save(path)
    loaded = keras.saving.load_model(path)
    self.assertIsInstance(loaded, DartsNetwork)
    self.assertEqual(loaded.get_config(), net.get_config())
    self.assertEqual(DartsGenotype.from_json(loaded.get_config()["genotype"]), TINY)
    self.assertEqual([v.path for v in loaded.weights], [v.path for v in net.weights])
    for original, reloaded in zip(net.get_weights(), loaded.get_weights()):
      np.testing.assert_array_equal(original, reloaded)
    np.testing.assert_array_equal(loaded(x, training=False).numpy(),
                                  net(x, training=False).numpy())
    for reloaded, original in zip(loaded(x, training=True), net(x, training=True)):
      np.testing.assert_array_equal(reloaded.numpy(), original.numpy())

  def test_parameter_counts_match_the_papers(self):
    """DARTS' convention: trainable parameters, auxiliary head excluded, in millions."""
    # The count from the op definitions gives DARTS' own cell its published size (exactly
    # 3,349,342: DARTS' logs' "param size = 3.349342MB"), so it is DARTS' skeleton ...
    self.assertEqual(_paper_count(DARTS_V2, 36, 20, 10, "cifar"), 3_349_342)
    cases = [  # genotype, classes, variant, expected millions, why
        (TENAS_IMAGENET, 1000, "imagenet", 5.4, "TE-NAS paper, its ImageNet table"),
        # TE-NAS reports 3.8M for its CIFAR-10 cell, but its published genotype has 4.14M in
        # DARTS' network; 3.8M would fit that cell with one sep conv fewer in its normal cell.
        (TENAS_CIFAR10, 10, "cifar", 4.1, "measured; the paper says 3.8"),
    ]
    # ... and the Keras networks have exactly that count.
    for genotype, classes, variant, millions, why in cases:
      net = DartsNetwork(genotype, classes, variant=variant, auxiliary_weight=0.4)
      size = 32 if variant == "cifar" else 224
      net.build((None, size, size, 3))
      counted = _darts_count(net)
      channels, cells = (36, 20) if variant == "cifar" else (48, 14)
      self.assertEqual(counted, _paper_count(genotype, channels, cells, classes, variant), why)
      self.assertEqual(round(counted / 1e6, 1), millions, (why, counted))

  def test_bad_arguments_are_refused_with_the_value(self):
    with self.assertRaisesRegex(ValueError, r"variant must be one of \('cifar', 'imagenet'\); "
                                            "got 'mnist'"):
      DartsNetwork(TINY, variant="mnist")
    with self.assertRaisesRegex(ValueError, "channels must be even for variant 'imagenet'.*got 5"):
      DartsStem(5, "imagenet")
    with self.assertRaisesRegex(ValueError, "auxiliary_weight must be a float >= 0; got -0.4"):
      DartsNetwork(TINY, auxiliary_weight=-0.4)
    with self.assertRaisesRegex(ValueError, "num_cells must be an int >= 1; got 0"):
      DartsNetwork(TINY, num_cells=0)
    with self.assertRaisesRegex(ValueError, "normal pair 0: op must be one of"):
      DartsNetwork({**TINY.to_json(), "normal": [["conv", 0]] + TINY.to_json()["normal"][1:]})
    with self.assertRaisesRegex(ValueError, "auxiliary head's input map must be at least 8x8.*"
                                            "got 4x4: use larger images or auxiliary_weight=0"):
      DartsNetwork(TINY, channels=4, num_cells=5, auxiliary_weight=0.4).build((None, 16, 16, 3))
    with self.assertRaisesRegex(ValueError, "num_classes must be an int >= 1; got 0"):
      AuxiliaryHead(0)


# Under MirroredStrategy on 2 CPU devices (split before TensorFlow starts, hence a process of its
# own): the loss of one training step of `fit` and, per replica's half batch, the loss computed by
# hand.
_MIRRORED_STEP = """
import json
import keras, numpy as np, tensorflow as tf
from tenas_tf.train import distribute
distribute.configure_cpu_devices(2)
from tenas_tf.spaces import DartsNetwork
from tests.spaces.darts_network_test import TINY, _images
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
x = _images(8)
y = keras.utils.to_categorical(np.arange(8) % 10, 10)
loss = keras.losses.CategoricalCrossentropy(from_logits=True)
with strategy.scope():
  net = DartsNetwork(TINY, 10, channels=4, num_cells=5, auxiliary_weight=0.4)
  net.build((None, 32, 32, 3))
  net.compile(optimizer=keras.optimizers.SGD(0.0), loss=loss)
halves = []
for part in (slice(0, 4), slice(4, 8)):  # each replica normalises with its own half's statistics
  main, auxiliary = net(x[part], training=True)
  halves.append(float(loss(y[part], main)) + 0.4 * float(loss(y[part], auxiliary)))
# `fit` splits each batch of a dataset over the replicas (`train_on_batch` would not split it).
history = net.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), epochs=1, verbose=0)
step = history.history["loss"][0]
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "step": step, "halves": halves}))
"""


class DartsNetworkMirroredTest(absltest.TestCase):

  def test_each_replica_adds_its_own_auxiliary_loss(self):
    process = subprocess.run([sys.executable, "-c", _MIRRORED_STEP], cwd=testing_utils.REPO,
                             env=dict(os.environ, PYTHONPATH=testing_utils.REPO,
                                      TF_CPP_MIN_LOG_LEVEL="3"),
                             capture_output=True, text=True, timeout=600)
    self.assertEqual(process.returncode, 0, process.stderr[-3000:])
    result = json.loads(process.stdout.strip().splitlines()[-1])
    self.assertEqual(result["replicas"], 2)
    # Equal halves: the global batch's mean loss is the mean of the replicas' mean losses.
    self.assertAlmostEqual(result["step"], np.mean(result["halves"]), places=5)


if __name__ == "__main__":
  absltest.main()
