"""Run directories: damaged files named with advice, kinds that are never guessed, the umask."""

import os
import stat
import tempfile

from absl.testing import absltest

from tenas_tf import experiments
from tenas_tf import search
from tenas_tf.experiments import run_files


def _search_config(seed=0):
  return experiments.SearchConfig(
      space="nb201", dataset="synthetic", data_source="synthetic:8", batch_size=4,
      lr_batch_size=10, settings=search.PruneSettings(repeats=1, seed=seed))


class ReadJsonTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = self.enter_context(tempfile.TemporaryDirectory())

  def _write(self, name, content, mode="w"):
    path = os.path.join(self.dir, name)
    with open(path, mode) as stream:
      stream.write(content)
    return path

  def test_truncated_file_is_named_with_what_to_do(self):
    path = self._write("state.json", '{"config": {"space": "nb2')
    with self.assertRaisesRegex(ValueError, rf"^{path} is not valid JSON \(.* at line 1, column "
                                            r"\d+\): it is truncated or corrupt; delete it .* new "
                                            r"run directory$"):
      run_files.read_json(path)

  def test_empty_binary_and_non_object_files(self):
    cases = {"empty.json": ("", "w", "not valid JSON"),
             "binary.json": (b"\xff\xfe\x00garbage", "wb", "not a text file"),
             "list.json": ("[1, 2]", "w", "holds a JSON list, not the object a run writes")}
    for name, (content, mode, message) in cases.items():
      path = self._write(name, content, mode)
      with self.subTest(name), self.assertRaisesRegex(ValueError, f"^{path} .*{message}"):
        run_files.read_json(path)

  def test_truncated_state_stops_a_search_with_the_file_named(self):
    run_files.start_run(self.dir, run_files.SEARCH)
    path = self._write("state.json", '{"rounds": [')
    with self.assertRaisesRegex(ValueError, f"{path} is not valid JSON"):
      experiments.run_search(_search_config(), None, self.dir)


class RunKindTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = self.enter_context(tempfile.TemporaryDirectory())

  def test_kind_is_recorded_once_and_another_kind_is_refused(self):
    run_dir = os.path.join(self.dir, "run")
    self.assertIsNone(run_files.run_kind(run_dir))
    self.assertFalse(run_files.start_run(run_dir, run_files.TRAINING))
    self.assertEqual(run_files.run_kind(run_dir), "training")
    self.assertTrue(run_files.start_run(run_dir, run_files.TRAINING))
    before = sorted(os.listdir(run_dir))
    with self.assertRaisesRegex(ValueError, f"run_dir '{run_dir}' holds a training run, not a "
                                            "search run; use a new run directory"):
      experiments.run_search(_search_config(), None, run_dir)
    self.assertEqual(sorted(os.listdir(run_dir)), before)

  def test_unknown_kind_and_bad_directories(self):
    run_files.write_json(os.path.join(self.dir, "run.json"), {"kind": "party"})
    with self.assertRaisesRegex(ValueError, "names an unknown kind of run 'party'"):
      run_files.run_kind(self.dir)
    a_file = os.path.join(self.dir, "file")
    open(a_file, "w").close()
    with self.assertRaisesRegex(ValueError, f"run_dir '{a_file}' is not a writable directory: "
                                            "it is a file"):
      run_files.start_run(a_file, run_files.SEARCH)
    with self.assertRaisesRegex(ValueError, f"run_dir '{a_file}/run' is not a writable "
                                            f"directory: '{a_file}' is a file"):
      run_files.start_run(os.path.join(a_file, "run"), run_files.SEARCH)

  def test_refused_check_creates_no_directory(self):
    os.chmod(self.dir, 0o500)
    self.addCleanup(os.chmod, self.dir, 0o700)
    if os.access(self.dir, os.W_OK):
      self.skipTest("running as a user who can write anywhere (root)")
    run_dir = os.path.join(self.dir, "new", "run")
    with self.assertRaisesRegex(ValueError, f"is not a writable directory: '{self.dir}' cannot "
                                            "be written"):
      run_files.check_writable(run_dir)
    self.assertFalse(os.path.exists(os.path.join(self.dir, "new")))

  def test_differences_name_each_changed_key(self):
    saved = {"space": "nb201", "settings": {"seed": 0, "repeats": 3}, "batch_size": 72}
    current = {"space": "nb201", "settings": {"seed": 1, "repeats": 3}, "lr_batch_size": 9}
    self.assertEqual(run_files.differences(saved, current),
                     "batch_size: 72 in the run, '<absent>' now; "
                     "lr_batch_size: '<absent>' in the run, 9 now; "
                     "settings.seed: 0 in the run, 1 now")


class UmaskTest(absltest.TestCase):

  def test_files_get_the_permissions_the_umask_allows(self):
    folder = self.enter_context(tempfile.TemporaryDirectory())
    for umask, expected in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
      previous = os.umask(umask)
      try:
        path = os.path.join(folder, f"result_{umask:o}.json")
        run_files.write_json(path, {"a": 1})
      finally:
        os.umask(previous)
      with self.subTest(umask=oct(umask)):
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), expected)
        self.assertEqual(run_files.read_json(path), {"a": 1})


if __name__ == "__main__":
  absltest.main()
