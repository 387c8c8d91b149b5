"""The search binary end to end: flag files, run directory, TFDS (mocked), .npz, ImageNet files."""

import csv
import fcntl
import glob
import json
import os
import pty
import struct
import subprocess
import sys
import tempfile
import termios

from absl.testing import absltest

from tenas_tf.spaces import NB201Genotype
from tests import testing_utils

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = testing_utils.shared_dir()
TINY = ["--space=nb201", "--ntk_batch_size=4", "--lr_batch_size=40", "--lr_batches=1",
        "--repeats=1", "--prune_number=1", "--seed=5"]
# Three of NB201's ops, one a convolution: two rounds (18 and 12 candidates) whose networks trace
# in a third of the whole space's time; the binary's flow is the same.
KEEP = ("skip_connect", "nor_conv_1x1", "avg_pool_3x3")


def _write_flagfile(folder, lines):
  path = os.path.join(folder, "tiny.flags")
  with open(path, "w") as stream:
    stream.write("\n".join(lines) + "\n")
  return path


def _run(command):
  env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
  return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def _run_python(*args):
  return _run([sys.executable, *args])


def _run_reduced(keep_ops, *args):
  return _run(testing_utils.reduced_search_command("nb201", keep_ops, *args))


# The binary's main under TFDS's mock data (mocking works only inside one process), on NB201
# reduced to the ops KEEP.
_MOCKED_SEARCH = f"""
import sys
from absl import app
import tensorflow_datasets as tfds
from tenas_tf.launch import search
from tenas_tf.spaces import registry
from tests import testing_utils
space = registry.SPACES["nb201"]
registry.SPACES["nb201"] = space.reduced_to(testing_utils.only_ops(space, {KEEP!r}))
with tfds.testing.mock_data(num_examples=64):
  app.run(search.main, argv=["search"] + sys.argv[1:])
"""


class SearchBinaryTest(absltest.TestCase):

  def test_npz_search_reruns_from_its_flag_file_with_the_same_result(self):
    npz = SHARED / "data" / "cifar" / "cifar10_train_0000-0999.npz"
    table = SHARED / "data" / "nb201" / "nb201_accuracies.csv"
    if not npz.exists():
      self.skipTest(f"shared CIFAR-10 images absent: {npz}")
    tmp = self.enter_context(tempfile.TemporaryDirectory())
    flagfile = _write_flagfile(tmp, TINY + ["--dataset=cifar10", f"--data_npz={npz}",
                                            f"--nb201_table={table}"])
    first_dir, second_dir = os.path.join(tmp, "first"), os.path.join(tmp, "second")
    first = _run_reduced(KEEP, f"--flagfile={flagfile}", f"--run_dir={first_dir}",
                         "--progress_seconds=0")
    self.assertEqual(first.returncode, 0, first.stderr[-3000:])
    # The run directory's flag file alone reproduces the search.
    second = _run_reduced(KEEP, f"--flagfile={os.path.join(first_dir, 'search.flags')}",
                          f"--run_dir={second_dir}")
    self.assertEqual(second.returncode, 0, second.stderr[-3000:])

    with open(os.path.join(first_dir, "result.json")) as stream:
      result = json.load(stream)
    with open(os.path.join(second_dir, "result.json")) as stream:
      rerun = json.load(stream)
    self.assertEqual(result["genotype"], rerun["genotype"])
    self.assertEqual([r["scores"] for r in result["rounds"]],
                     [r["scores"] for r in rerun["rounds"]])

    genotype = NB201Genotype.from_string(result["genotype"])  # a valid single-path cell
    self.assertEqual(genotype.to_string(), result["genotype"])
    self.assertEqual([len(r["scores"]) for r in result["rounds"]], [18, 12])
    self.assertTrue(all(len(r["pruned"]) == 6 for r in result["rounds"]))
    self.assertEqual(result["seed"], 5)
    self.assertGreater(result["seconds"], 0)
    self.assertIn("tensorflow", result["versions"])
    with open(table, newline="") as stream:
      row = next(r for r in csv.DictReader(stream) if r["arch_str"] == result["genotype"])
    self.assertEqual(result["accuracies"], {"cifar10": float(row["cifar10_test_acc"]),
                                            "cifar100": float(row["cifar100_test_acc"]),
                                            "imagenet16": float(row["imagenet16_test_acc"])})
    # The end-of-run summary, accuracies to the table's 2 decimals.
    self.assertIn(f"genotype: {result['genotype']}", first.stdout)
    self.assertIn(f"NB201 test accuracy, cifar10: {result['accuracies']['cifar10']:.2f} %",
                  first.stdout)
    self.assertRegex(first.stdout, r"search time: .* in 2 rounds \(0: .*, 1: .*\)")
    self.assertIn(f"files in {first_dir}: ", first.stdout)
    # Progress in a log (not a terminal): the tracing line once, plain lines with an ETA (one
    # per candidate with --progress_seconds=0), one line per finished round, no carriage return.
    self.assertEqual(first.stderr.count("building and tracing the indicator networks"), 1)
    self.assertEqual(first.stderr.count("indicator networks traced"), 1)
    self.assertRegex(first.stderr, r"round 0: candidate 2/18, elapsed \d+ s, ETA \d+ s")
    for round_index, candidates in enumerate((18, 12)):
      self.assertIn(f"round {round_index}: {candidates}/{candidates} candidates in ", first.stderr)
    self.assertNotIn("\r", first.stderr)

  def test_a_terminal_gets_a_progress_bar(self):
    run_dir = os.path.join(self.enter_context(tempfile.TemporaryDirectory()), "run")
    main, terminal = pty.openpty()
    # A terminal of 24 x 100 characters (a new pseudo-terminal has no size, and tqdm sizes the
    # bar to it).
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(
        testing_utils.reduced_search_command(
            "nb201", ("skip_connect", "avg_pool_3x3"), *TINY, "--dataset=synthetic",
            "--synthetic_count=16", f"--run_dir={run_dir}"),
        cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), stdout=subprocess.DEVNULL,
        stderr=terminal)
    os.close(terminal)
    shown = b""
    while True:
      try:
        chunk = os.read(main, 4096)
      except OSError:  # the terminal closed: the search ended
        break
      if not chunk:
        break
      shown += chunk
    os.close(main)
    self.assertEqual(process.wait(), 0, shown[-3000:])
    text = shown.decode(errors="replace")
    self.assertIn("\r", text)  # a bar redrawn in place
    self.assertRegex(text, r"round 0: +\d+%.*\| *12/12 \[")  # tqdm: done/total [elapsed<ETA]

  def test_search_on_mocked_tfds_cifar10(self):
    tmp = self.enter_context(tempfile.TemporaryDirectory())
    run_dir = os.path.join(tmp, "run")
    flagfile = _write_flagfile(tmp, TINY + ["--dataset=cifar10", "--prune_number=2"])
    process = _run_python("-c", _MOCKED_SEARCH, f"--flagfile={flagfile}", f"--run_dir={run_dir}")
    self.assertEqual(process.returncode, 0, process.stderr[-3000:])
    with open(os.path.join(run_dir, "result.json")) as stream:
      result = json.load(stream)
    self.assertLen(result["rounds"], 1)  # 3 ops per edge, 2 pruned at once
    self.assertEqual(result["config"]["data_source"], "tfds:cifar10;dataset=cifar10;split=train")
    NB201Genotype.from_string(result["genotype"])

  def test_search_on_an_imagenet_image_folder(self):
    tmp = self.enter_context(tempfile.TemporaryDirectory())
    image_dir, cache_dir = os.path.join(tmp, "train"), os.path.join(tmp, "cache")
    testing_utils.imagenet_sample_folder(image_dir)  # 20 real JPEGs in 3 classes
    run_dir = os.path.join(tmp, "run")
    flags = TINY + ["--dataset=imagenet-1k", f"--image_dir={image_dir}",
                    f"--cache_dir={cache_dir}", "--max_images=12", f"--run_dir={run_dir}"]

    def search(*extra):
      # The NB201 space without its convolutions (one round of 12 candidates): the networks
      # trace in seconds; the data path under test is the same.
      return _run(testing_utils.reduced_search_command(
          "nb201", ("skip_connect", "avg_pool_3x3"), *flags, *extra))

    process = search()
    self.assertEqual(process.returncode, 0, process.stderr[-3000:])
    with open(os.path.join(run_dir, "result.json")) as stream:
      result = json.load(stream)
    self.assertEqual(result["config"]["dataset"], "imagenet-1k")
    # The folder spelled canonically; the seed orders its files; --cache_dir is left out.
    self.assertEqual(result["config"]["data_source"],
                     f"image_dir:{os.path.realpath(image_dir)};dataset=imagenet-1k;seed=5;"
                     "max_images=12")
    NB201Genotype.from_string(result["genotype"])
    self.assertEqual([len(r["scores"]) for r in result["rounds"]], [12])
    # The 12 images were decoded, resized to 32x32 and cached in files.
    self.assertLen(glob.glob(os.path.join(cache_dir, "image_dir_32px-*.index")), 1)
    with open(os.path.join(run_dir, "search.flags")) as stream:
      recorded = stream.read().splitlines()
    for flag in ("--dataset=imagenet-1k", f"--image_dir={image_dir}",
                 f"--cache_dir={cache_dir}", "--max_images=12"):
      self.assertIn(flag, recorded)

    # The same folder spelled relative to the binary's working directory is the same search.
    again = search(f"--image_dir={os.path.relpath(image_dir, REPO)}")
    self.assertEqual(again.returncode, 0, again.stderr[-3000:])
    self.assertIn("already holds a finished search", again.stderr)

    # Other images in the same run directory are another search: refused, not resumed.
    other = search("--max_images=10")
    self.assertEqual(other.returncode, 1, other.stderr[-3000:])
    self.assertIn("holds a search with another configuration", other.stderr)
    self.assertIn(f"image_dir:{os.path.realpath(image_dir)};dataset=imagenet-1k;seed=5;"
                  "max_images=10", other.stderr)


if __name__ == "__main__":
  absltest.main()
