"""tf.distribute strategies for retraining, chosen by name.

`mirrored` replicates the model over the GPUs of one machine (over the logical CPU devices
where there is no GPU, which is how it is tested); `multi_worker` over the machines of a
cluster described by the `TF_CONFIG` environment variable. The batch size given to the
pipelines is the global one; Keras splits each batch over the replicas.
"""

import os

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker")


def configure_cpu_devices(count):
  """Splits the (first) physical CPU into `count` logical devices, before TensorFlow starts.

  Lets `mirrored` run with several replicas on a machine without GPUs.

  Raises:
    ValueError: if `count` is not an int >= 1, or TensorFlow's runtime has already started.
  """
  if isinstance(count, bool) or not isinstance(count, int) or count < 1:
    raise ValueError(f"count of CPU devices must be an int >= 1; got {count!r}")
  cpu = tf.config.list_physical_devices("CPU")[0]
  try:
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
  except RuntimeError as error:
    raise ValueError(f"the CPU can be split into {count} devices only before TensorFlow "
                     f"runs anything: {error}") from error


def make_strategy(name):
  """The `tf.distribute.Strategy` called `name` (one of `STRATEGIES`).

  Returns:
    `default`: the default (no-op) strategy; `mirrored`: `MirroredStrategy` over all GPUs, or
    over all logical CPU devices when there is no GPU; `multi_worker`:
    `MultiWorkerMirroredStrategy` (reads `TF_CONFIG`; without it, one local worker).

  Raises:
    ValueError: if `name` is not one of `STRATEGIES`.
  """
  if name not in STRATEGIES:
    raise ValueError(f"strategy must be one of {STRATEGIES}; got {name!r}")
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([device.name for device in devices])
  return tf.distribute.MultiWorkerMirroredStrategy()


def worker_dir(strategy, run_dir):
  """Where this worker writes its files: `run_dir` on the chief, a private subfolder elsewhere.

  Under `MultiWorkerMirroredStrategy` every worker runs the callbacks; only the chief (task 0
  of type "chief" or "worker") may write the run directory, the others write
  `run_dir/workers/<type>_<index>/` so that no two processes write one file.
  """
  resolver = getattr(strategy, "cluster_resolver", None)
  task_type = getattr(resolver, "task_type", None)
  task_id = getattr(resolver, "task_id", None)
  if task_type in (None, "chief") or (task_type == "worker" and not task_id and not _has_chief(
      resolver)):
    return run_dir
  return os.path.join(run_dir, "workers", f"{task_type}_{task_id}")


def _has_chief(resolver):
  return "chief" in resolver.cluster_spec().as_dict()
