"""Strategy names, and which worker writes the run directory under multi-worker training."""

import os
import types

from absl.testing import absltest
import tensorflow as tf

from tenas_tf.train import distribute


def _strategy(task_type, task_id, cluster):
  resolver = types.SimpleNamespace(task_type=task_type, task_id=task_id,
                                   cluster_spec=lambda: tf.train.ClusterSpec(cluster))
  return types.SimpleNamespace(cluster_resolver=resolver)


class DistributeTest(absltest.TestCase):

  def test_only_the_chief_writes_the_run_directory(self):
    workers = {"worker": ["a:1", "b:1"]}
    with_chief = {"chief": ["c:1"], "worker": ["a:1", "b:1"]}
    self.assertEqual(distribute.worker_dir(tf.distribute.get_strategy(), "run"), "run")
    self.assertEqual(distribute.worker_dir(_strategy("worker", 0, workers), "run"), "run")
    self.assertEqual(distribute.worker_dir(_strategy("worker", 1, workers), "run"),
                     os.path.join("run", "workers", "worker_1"))
    self.assertEqual(distribute.worker_dir(_strategy("chief", 0, with_chief), "run"), "run")
    self.assertEqual(distribute.worker_dir(_strategy("worker", 0, with_chief), "run"),
                     os.path.join("run", "workers", "worker_0"))

  def test_strategy_names(self):
    self.assertIs(distribute.make_strategy("default"), tf.distribute.get_strategy())
    with self.assertRaisesRegex(ValueError, "strategy must be one of .*; got 'tpu'"):
      distribute.make_strategy("tpu")
    with self.assertRaisesRegex(ValueError, "count of CPU devices must be an int >= 1; got 0"):
      distribute.configure_cpu_devices(0)


if __name__ == "__main__":
  absltest.main()
