"""An export to a folder that cannot be written is a one-line error, and leaves no run folder."""

import os
import tempfile
from unittest import mock

from absl.testing import absltest

from tenas_tf import experiments
from tenas_tf import export as export_lib

_ARCH = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
         "|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")


class ExportBaseTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = self.enter_context(tempfile.TemporaryDirectory())
    self.run_dir = os.path.join(self.tmp, "export_run")

  def _job(self, export_base):
    return experiments.ExportJob(run_dir=self.run_dir, export_base=export_base, genotype=_ARCH,
                                 channels=4, cells_per_stage=1)

  def test_export_base_that_is_a_file(self):
    a_file = os.path.join(self.tmp, "a_file")
    open(a_file, "w").close()
    with self.assertRaisesRegex(ValueError, f"^export_base '{a_file}' is not a writable "
                                            "directory: it is a file$"):
      experiments.export_run(self._job(a_file))
    self.assertFalse(os.path.exists(self.run_dir))

  def test_export_base_on_a_read_only_file_system(self):
    # What a read-only mount raises when the export creates its folders.
    refused = OSError(30, "Read-only file system", os.path.join(self.tmp, "base", "tenas"))
    with mock.patch.object(export_lib, "export_model", side_effect=refused):
      with self.assertRaisesRegex(ValueError, "^export_base '.*base' cannot be written: "
                                              r"Read-only file system \(.*base/tenas\)$"):
        experiments.export_run(self._job(os.path.join(self.tmp, "base")))


if __name__ == "__main__":
  absltest.main()
