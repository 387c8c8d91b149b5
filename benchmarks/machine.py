"""The machine a benchmark ran on, as a JSON-ready dict."""

import os
import platform

import tensorflow as tf


def _cpu_model():
  """The CPU's model name from /proc/cpuinfo; what `platform` knows where that file is absent."""
  try:
    with open("/proc/cpuinfo") as stream:
      for line in stream:
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "cpu model"):
          return value.strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def _gpu_names():
  """The names of the GPUs TensorFlow sees (e.g. "NVIDIA H200"); empty without any."""
  names = []
  for device in tf.config.list_physical_devices("GPU"):
    details = tf.config.experimental.get_device_details(device)
    names.append(details.get("device_name", device.name))
  return names


def describe():
  """{cpu, cores, usable_cores, gpus, tensorflow, python, platform} of this machine.

  Call it after the measurements: listing the GPUs initialises TensorFlow's GPU runtime in this
  process, which the measuring processes should not share.
  """
  return {
      "cpu": _cpu_model(),
      "cores": os.cpu_count(),
      "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
      "gpus": _gpu_names(),
      "tensorflow": tf.__version__,
      "python": platform.python_version(),
      "platform": platform.platform(),
  }
