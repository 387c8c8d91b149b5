"""Each binary has exactly its own flags: --help lists them, another binary's flag is an error.

Checked in fresh processes: a test process imports several binaries, so their flags coexist there.
"""

import tempfile

from absl.testing import absltest
from absl.testing import parameterized

from tests import testing_utils

# Per binary: flags its --help must list, and flags of other binaries it must not have.
OWN = {
    "search": ("--ntk_batch_size", "--lr_batch_size", "--repeats", "--prune_number",
               "--common_batches", "--image_dir", "--nb201_table", "--space", "--workers",
               "--ray_address", "--run_dir"),
    "evaluate": ("--mode", "--archs", "--num_archs", "--draws", "--seeds", "--ntk_batch_size",
                 "--repeats", "--nb201_table", "--workers", "--ray_address", "--run_dir"),
    "train": ("--batch_size", "--epochs", "--learning_rate", "--genotype", "--search_run_dir",
              "--strategy", "--train_image_dir", "--channels", "--run_dir"),
    "export": ("--export_base", "--model_name", "--version", "--serving_base_path",
               "--genotype", "--channels", "--run_dir"),
}
FOREIGN = {
    "search": ("--epochs", "--batch_size", "--learning_rate", "--export_base", "--mode",
               "--genotype"),
    "evaluate": ("--epochs", "--batch_size", "--export_base", "--genotype"),
    "train": ("--ntk_batch_size", "--repeats", "--prune_number", "--mode", "--export_base",
              "--image_dir", "--workers"),
    "export": ("--ntk_batch_size", "--repeats", "--epochs", "--batch_size", "--mode",
               "--deterministic_ops", "--data_npz", "--workers"),
}


def _run(binary, *args):
  return testing_utils.run_binary(testing_utils.binary_command(f"tenas_tf.launch.{binary}", *args))


class BinaryFlagsTest(parameterized.TestCase):

  @parameterized.parameters("search", "evaluate", "train", "export")
  def test_help_lists_the_binarys_own_flags_only(self, binary):
    process = _run(binary, "--help")
    help_lines = [line.strip() for line in process.stdout.splitlines()]
    listed = {line.split(":")[0].replace("[no]", "") for line in help_lines
              if line.startswith("--")}
    for flag in OWN[binary]:
      self.assertIn(flag, listed, process.stdout[-3000:])
    for flag in FOREIGN[binary]:
      self.assertNotIn(flag, listed)
    self.assertNotIn("--helpfull", listed)  # absl's own flags are not the binary's
    self.assertLess(len(listed), 40, "help lists more than the binary's flags")

  # One flag per binary, one of them a boolean's --no form: absl rejects every unknown flag the
  # same way, the help test checks each binary's whole set, and docs/flags.md runs
  # `tenas-search --batch_size=8`.
  @parameterized.parameters(("search", "--epochs=3"), ("evaluate", "--learning_rate=0.1"),
                            ("train", "--ntk_batch_size=8"), ("export", "--nodeterministic_ops"))
  def test_a_flag_of_another_binary_is_an_error(self, binary, flag):
    with tempfile.TemporaryDirectory() as run_dir:
      process = _run(binary, flag, f"--run_dir={run_dir}")
    self.assertNotEqual(process.returncode, 0)
    name = flag.lstrip("-").split("=")[0]
    self.assertIn(f"Unknown command line flag '{name}'", process.stderr)
    self.assertNotIn("Traceback", process.stderr)

  @parameterized.parameters(
      ("train", "--learning_rate=-5", "-5.0 is not a non-negative number"),
      ("search", "--repeats=0", "0 is not a positive integer"),
      ("search", "--space=nas", "value should be one of <nb201|darts>"),
      ("evaluate", "--draws=0", "0 is not a positive integer"),
      ("export", "--version=0", "0 is not a positive integer"))
  def test_a_value_out_of_bounds_is_refused_naming_the_flag(self, binary, flag, rule):
    with tempfile.TemporaryDirectory() as run_dir:
      process = _run(binary, flag, f"--run_dir={run_dir}")
    self.assertEqual(process.returncode, 1, process.stderr[-3000:])
    self.assertIn(f"flag {flag}: {rule}", process.stderr)
    self.assertNotIn("Traceback", process.stderr)


if __name__ == "__main__":
  absltest.main()
