"""Helpers shared by the tests: tolerances, shared data, weight copying, reduced search spaces,
layer clones, supernets against their pruned networks, and running the binaries."""

import contextlib
import io
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from absl import flags
import keras
import numpy as np

# The repository root: the working directory and PYTHONPATH of the binaries the tests start.
REPO = str(pathlib.Path(__file__).resolve().parents[1])

# One place for tolerances (STYLE.md rule 12). float32: results of float32 forward/backward passes
# compared across two computation orders; float64: the same float32 numbers accumulated in float64.
_TOLERANCES = {
    np.dtype(np.float32): {"rtol": 1e-4, "atol": 1e-6},
    np.dtype(np.float64): {"rtol": 1e-9, "atol": 1e-12},
}


def tolerance(dtype=np.float32):
  """{'rtol': ..., 'atol': ...} for comparing two computations carried out in `dtype`."""
  return dict(_TOLERANCES[np.dtype(dtype)])


def shared_dir():
  """The project's `shared` folder, beside the repository root (it may be absent)."""
  return pathlib.Path(REPO).parent / "shared"


def imagenet_sample_folder(root, num_classes=3):
  """An image folder of the 20 real ILSVRC2012 JPEGs in `shared/data/imagenet_samples`.

  Sample i (in sorted file order) is copied to `root/n<i % num_classes>/`, so that the folder has
  class sub-folders like ILSVRC2012's `train/`.

  Returns:
    The number of images copied (20).

  Raises:
    unittest.SkipTest: where the samples are absent.
  """
  samples = sorted((shared_dir() / "data" / "imagenet_samples").glob("imagenet_*.jpg"))
  if not samples:
    raise unittest.SkipTest(f"ImageNet samples absent: {shared_dir() / 'data/imagenet_samples'}")
  for index, path in enumerate(samples):
    folder = pathlib.Path(root) / f"n{index % num_classes}"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, folder / path.name)
  return len(samples)


def only_ops(space, keep_ops):
  """`space.initial_mask()` with only the ops named in `keep_ops` alive."""
  mask = space.initial_mask()
  for column, op in enumerate(space.ops):
    mask[..., column] &= op in keep_ops
  return mask


def reduced_space(space, initial_mask):
  """`space` (a `registry.SearchSpace`) whose searches start from `initial_mask`.

  Only the ops alive there are built in its indicator networks, so a search runs the same flow
  (flags, op rounds, DARTS' topology rounds, run directory) with networks that trace in seconds
  when they are few and without weights: the full DARTS NTK supernet's vectorised Jacobian takes
  minutes on a CPU.
  """
  return space.reduced_to(initial_mask)


# The search binary's main on the space argv[1] reduced to the ops argv[2] ("op,op,...").
_REDUCED_SEARCH = """
import sys
from absl import app
from tenas_tf.launch import search
from tenas_tf.spaces import registry
from tests import testing_utils

space, ops = registry.SPACES[sys.argv.pop(1)], sys.argv.pop(1).split(",")
registry.SPACES[space.name] = testing_utils.reduced_space(space, testing_utils.only_ops(space, ops))
app.run(search.main, argv=["search"] + sys.argv[1:])
"""


def reduced_search_command(space_name, keep_ops, *flags):
  """The command line of the search binary on its space with only `keep_ops` (`reduced_space`).

  Run it with the repository on PYTHONPATH.

  Args:
    space_name: "nb201" or "darts".
    keep_ops: the op names alive at the start.
    *flags: the binary's flags, e.g. "--run_dir=...".

  Returns:
    A list for `subprocess.run`.
  """
  return [sys.executable, "-c", _REDUCED_SEARCH, space_name, ",".join(keep_ops), *flags]


def copy_matching_weights(source, target, skip=()):
  """Assigns every variable of `target` from the `source` variable with the same `path`.

  Args:
    source: a built Keras model.
    target: a built Keras model whose variables (except those whose path ends with one of
      `skip`) all exist in `source` with the same path and shape.
    skip: path suffixes not to copy (e.g. an alive mask).

  Returns:
    The number of variables copied.

  Raises:
    KeyError: a variable of `target` has no counterpart in `source`.
  """
  by_path = {v.path: v for v in source.variables}
  copied = 0
  for variable in target.variables:
    if any(variable.path.endswith(suffix) for suffix in skip):
      continue
    if variable.path not in by_path:
      raise KeyError(f"{variable.path} has no counterpart in {source.name}")
    variable.assign(by_path[variable.path].numpy())
    copied += 1
  return copied


def randomise_bn_statistics(net, seed=1):
  """Moves `net`'s BN moving statistics away from (0, 1), so inference outputs depend on them."""
  rng = np.random.default_rng(seed)
  for variable in net.non_trainable_variables:
    if variable.path.endswith("moving_mean"):
      variable.assign(rng.normal(size=variable.shape).astype("float32"))
    elif variable.path.endswith("moving_variance"):
      variable.assign(rng.uniform(0.5, 2.0, size=variable.shape).astype("float32"))


def assert_clones_match(test, layer, x, call):
  """Asserts that `layer`'s two config clones are of its class, same config and same outputs.

  The clones are `from_config(get_config())` and a `serialize_keras_object` round trip; each is
  built by `call(clone, x)`, given `layer`'s weights and must then give `call(layer, x)`.

  Args:
    test: the `tf.test.TestCase` asserting.
    layer: a built Keras layer or model.
    x: its input.
    call: (layer, x) -> output tensor.
  """
  expected = call(layer, x).numpy()
  clones = [type(layer).from_config(layer.get_config()),
            keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))]
  for clone in clones:
    test.assertIs(type(clone), type(layer))
    test.assertEqual(clone.get_config(), layer.get_config())
    call(clone, x)  # builds
    clone.set_weights(layer.get_weights())
    test.assertAllClose(call(clone, x), expected, **tolerance(np.float32))


def pruned_copy(test, supernet, factory, mask, built_ops_of, **kwargs):
  """`mask`'s physically pruned network, with every weight but the mask copied from `supernet`.

  Args:
    test: the `tf.test.TestCase` asserting that all weights were copied and that the pruned
      network's alive mask is `mask`.
    supernet: a built supernet.
    factory: its builder, (num_classes, seed=..., built_ops=..., **kwargs) -> built network.
    mask: the alive mask to prune to.
    built_ops_of: the space's mask -> `built_ops`.
    **kwargs: more arguments of `factory`.

  Returns:
    The pruned network (10 classes).
  """
  pruned = factory(10, seed=1, built_ops=built_ops_of(mask), **kwargs)
  copied = copy_matching_weights(supernet, pruned, skip=("/alive",))
  test.assertEqual(copied, len(pruned.variables) - 1)
  test.assertAllEqual(pruned.alive, np.asarray(mask, np.float32))
  return pruned


def drop_constant_columns(patterns):
  """The columns of a [samples, units] sign-pattern matrix that are not constant."""
  return patterns[:, patterns.min(axis=0) != patterns.max(axis=0)]


def run_main(binary, argv):
  """Parses `argv` into absl's global flags and runs `binary.main` in-process.

  Args:
    binary: a `tenas_tf.launch` module.
    argv: its flags.

  Returns:
    (exit code, message): 1 and the exit message followed by stderr for a user error, 1 and
    absl's message for a flag it refuses (an unknown value of an enum, a value out of bounds:
    `app.run` exits 1 on those too), else the code `main` exited with (0 when it returned) and
    stderr.
  """
  program = binary.__name__.rsplit(".", 1)[-1]
  stderr = io.StringIO()
  flags.FLAGS.unparse_flags()
  try:
    flags.FLAGS([program] + argv)
    with contextlib.redirect_stderr(stderr):
      binary.main([program])
  except flags.Error as error:
    return 1, f"FATAL Flags parsing error: {error}"
  except SystemExit as exit_:
    message = exit_.code if isinstance(exit_.code, str) else ""
    return (1 if isinstance(exit_.code, str) else exit_.code), message + stderr.getvalue()
  finally:
    flags.FLAGS.unparse_flags()
  return 0, stderr.getvalue()


def binary_command(module, *args):
  """The command line running `module` (e.g. "tenas_tf.launch.search") with flags `args`."""
  return [sys.executable, "-m", module, *args]


def _binary_env():
  return dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")


def run_binary(command):
  """Runs `command` from the repository root to its end; a `CompletedProcess` with text output."""
  return subprocess.run(command, cwd=REPO, env=_binary_env(), capture_output=True, text=True,
                        timeout=600)


# Runs argv[1:] with SIGINT at its default disposition. A process started with SIGINT ignored
# (a test process may inherit that: a background job of a non-interactive shell does) passes the
# ignoring on, and Python then never turns Ctrl-C into KeyboardInterrupt; exec keeps SIG_DFL.
_WITH_DEFAULT_SIGINT = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                        "os.execvp(sys.argv[1], sys.argv[1:])")


def signal_after_progress(command, progressed, sig, timeout=300):
  """Starts `command` as from a terminal (SIGINT not ignored, whatever this process inherited),
  and sends it `sig` as soon as `progressed()` holds.

  Args:
    command: the command line, run from the repository root.
    progressed: () -> bool, polled every 20 ms.
    sig: the signal (SIGKILL: a crash; SIGINT: Ctrl-C; SIGTERM: a scheduler's stop).
    timeout: seconds after which the signal is sent anyway.

  Returns:
    (running, returncode, stderr): whether it was still running when signalled (False: it
    ended before), its exit status and its standard error.
  """
  with tempfile.TemporaryFile("w+") as stderr:
    process = subprocess.Popen([sys.executable, "-c", _WITH_DEFAULT_SIGINT, *command], cwd=REPO,
                               env=_binary_env(), stdout=subprocess.DEVNULL, stderr=stderr,
                               text=True)
    deadline = time.time() + timeout
    while not progressed() and process.poll() is None and time.time() < deadline:
      time.sleep(0.02)
    running = process.poll() is None
    process.send_signal(sig)
    returncode = process.wait(timeout=timeout)
    stderr.seek(0)
    return running, returncode, stderr.read()


def kill_after_progress(command, progressed, timeout=300):
  """Starts `command`, and SIGKILLs it as soon as `progressed()` holds (a resume test's crash).

  Returns:
    Whether it was still running when killed (False: it ended before).
  """
  return signal_after_progress(command, progressed, signal.SIGKILL, timeout)[0]


def write_search_run(run_dir, result):
  """A finished search run in `run_dir` as the search writes it: run.json, then `result`."""
  os.makedirs(run_dir, exist_ok=True)
  for name, value in (("run.json", {"kind": "search"}), ("result.json", result)):
    with open(os.path.join(run_dir, name), "w") as stream:
      json.dump(value, stream)


def read_result(run_dir):
  """The `result.json` of a finished search or training run."""
  with open(os.path.join(run_dir, "result.json")) as stream:
    return json.load(stream)
