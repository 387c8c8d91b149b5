"""The train binary: SIGKILL and resume, two-replica mirrored training, finished runs, errors."""

import contextlib
import io
import json
import os
import tempfile

from absl.testing import absltest
import keras
import numpy as np

from tenas_tf.launch import train as train_binary
from tenas_tf.train import trainer
from tests import testing_utils

ARCH = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
        "|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
TINY = ["--space=nb201", "--dataset=synthetic", "--synthetic_count=64", "--channels=2",
        "--cells_per_stage=1", "--batch_size=16", "--steps_per_epoch=4", "--cutout=16",
        "--drop_path_rate=0.1", "--seed=4", f"--genotype={ARCH}"]


def _command(run_dir, *extra):
  return testing_utils.binary_command("tenas_tf.launch.train", *TINY, f"--run_dir={run_dir}",
                                      *extra)


def _backed_up_epochs(run_dir):
  try:
    return trainer.completed_epochs(os.path.join(run_dir, trainer.BACKUP_DIR))
  except (OSError, ValueError, KeyError):  # the metadata file is being written
    return 0


def _files(folder):
  """{name: bytes} of the files directly in `folder`."""
  found = {}
  for name in sorted(os.listdir(folder)):
    if os.path.isfile(os.path.join(folder, name)):
      with open(os.path.join(folder, name), "rb") as stream:
        found[name] = stream.read()
  return found


def _weights(run_dir):
  model = keras.saving.load_model(os.path.join(run_dir, trainer.MODEL_FILE), compile=False)
  return model.get_weights()


class TrainBinaryTest(absltest.TestCase):

  def test_killed_training_resumes_after_its_last_epoch_to_the_uninterrupted_result(self):
    tmp = self.enter_context(tempfile.TemporaryDirectory())
    killed_dir, whole_dir = os.path.join(tmp, "killed"), os.path.join(tmp, "whole")
    epochs = "--epochs=4"
    testing_utils.kill_after_progress(_command(killed_dir, epochs),
                                      lambda: _backed_up_epochs(killed_dir) >= 1)
    self.assertFalse(os.path.exists(os.path.join(killed_dir, "result.json")),
                     "the run finished before it could be killed")
    done = _backed_up_epochs(killed_dir)
    self.assertBetween(done, 1, 3)

    resumed = testing_utils.run_binary(_command(killed_dir, epochs))
    self.assertEqual(resumed.returncode, 0, resumed.stderr[-3000:])
    self.assertIn(f"resumed after epoch {done}", resumed.stdout)
    # Keras counts epochs from 1: the first epoch of the rerun is the one after the backup.
    self.assertIn(f"Epoch {done + 1}/4", resumed.stdout + resumed.stderr)
    self.assertNotIn(f"Epoch {done}/4", resumed.stdout + resumed.stderr)
    result = testing_utils.read_result(killed_dir)
    self.assertEqual(result["resumed_after_epoch"], done)
    self.assertEqual([row["epoch"] for row in result["history"]], list(range(4)))
    self.assertFalse(os.path.exists(os.path.join(killed_dir, trainer.BACKUP_DIR)))

    whole = testing_utils.run_binary(_command(whole_dir, epochs))
    self.assertEqual(whole.returncode, 0, whole.stderr[-3000:])
    for resumed_weight, whole_weight in zip(_weights(killed_dir), _weights(whole_dir)):
      np.testing.assert_array_equal(resumed_weight, whole_weight)

    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):  # finished: not redone (in-process, quick)
      code, message = testing_utils.run_main(train_binary,
                                             TINY + [f"--run_dir={killed_dir}", epochs])
    self.assertEqual(code, 0, message)
    self.assertIn("already finished", stdout.getvalue())

  def test_mirrored_strategy_trains_on_two_logical_cpu_devices(self):
    run_dir = os.path.join(self.enter_context(tempfile.TemporaryDirectory()), "mirrored")
    process = testing_utils.run_binary(_command(
        run_dir, "--epochs=1", "--steps_per_epoch=3", "--strategy=mirrored",
        "--num_cpu_devices=2"))
    self.assertEqual(process.returncode, 0, process.stderr[-3000:])
    result = testing_utils.read_result(run_dir)
    self.assertEqual(result["replicas"], 2)
    self.assertLen(result["history"], 1)
    self.assertTrue(all(np.isfinite(row["loss"]) for row in result["history"]))
    self.assertIn("2 replica(s)", process.stdout)

  def test_user_errors_name_the_value(self):
    run_dir = os.path.join(self.enter_context(tempfile.TemporaryDirectory()), "run")
    cases = [
        (["--search_run_dir=/nonexistent"], "give exactly one of --genotype and --search_run_dir"),
        (["--genotype=|nor_conv_3x3~0|"], "malformed NB201 arch string"),
        (["--mixed_precision"], "mixed_precision needs a GPU"),
        (["--learning_rate=-1"], "flag --learning_rate=-1: -1.0 is not a non-negative number"),
        (["--learning_rate=0"], "learning_rate must be a float > 0.0; got 0.0"),
        (["--epochs=0"], "flag --epochs=0: 0 is not a positive integer"),
        (["--strategy=tpu"], "flag --strategy=tpu: value should be one of "
                             "<default|mirrored|multi_worker>"),
    ]
    for extra, fragment in cases:
      code, message = testing_utils.run_main(train_binary, TINY + [f"--run_dir={run_dir}"] + extra)
      self.assertEqual(code, 1, (extra, message))
      self.assertIn(fragment, message)
      self.assertNotIn("Traceback", message)
    self.assertFalse(os.path.exists(os.path.join(run_dir, "train_config.json")))

    os.makedirs(run_dir)
    with open(os.path.join(run_dir, "train_config.json"), "w") as stream:
      json.dump(dict(trainer.TrainConfig(genotype=ARCH).to_json(), epochs=3), stream)
    with open(os.path.join(run_dir, "train.flags"), "w") as stream:
      stream.write("--epochs=3\n")
    before = _files(run_dir)
    code, message = testing_utils.run_main(train_binary,
                                           TINY + [f"--run_dir={run_dir}", "--epochs=2"])
    self.assertEqual(code, 1, message)
    self.assertIn("holds a training run of another configuration", message)
    self.assertIn("epochs: 3 in the run, 2 now", message)
    # Refused: every file of the run as it was (train.flags still reruns the run that is there).
    self.assertEqual(_files(run_dir), before)

    search_dir = os.path.join(run_dir, "search")
    os.makedirs(search_dir)
    code, message = testing_utils.run_main(
        train_binary, [a for a in TINY if not a.startswith("--genotype")]
        + [f"--run_dir={run_dir}", f"--search_run_dir={search_dir}"])
    self.assertEqual(code, 1, message)
    self.assertIn("holds no finished search", message)


if __name__ == "__main__":
  absltest.main()
