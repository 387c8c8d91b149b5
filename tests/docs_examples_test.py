"""Every Python and shell example of README.md and docs/*.md runs, in the order written.

Each markdown file's fenced ```python and ```bash blocks run one after the other in one fresh
temporary directory, so a block may use what an earlier block of the same file wrote (the README
exports the training run its retraining example made). That directory has `launch/` (the flag
files) linked in, so the commands read as run from the repository root; Python blocks run as
scripts with the repository on PYTHONPATH, shell blocks with `bash -e` (a pipeline's status is its
last command's, as in a terminal: `tenas-search --helpshort | grep ...` exits 1 with absl's help
but passes when grep finds the flag), both with the
test's interpreter first on PATH (`python`, and the `tenas-*` console scripts of its
environment). `../shared` in a block means the project's shared folder
(`testing_utils.shared_dir()`); a block naming it is skipped, with the reason, where that folder
is absent.

A block preceded by `<!-- not run: <reason> -->` (needs the internet, a GPU, ImageNet, a TF
Serving server, or hours) is not run; the reason must be given. The README's quick start is such
a block: it must stay the two commands `.ci/run` runs. docs/flags.md must list exactly the flags
each binary defines.
"""

import importlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import warnings

from tests import testing_utils

REPO = pathlib.Path(testing_utils.REPO)
# Pages other work owns, with why their blocks are not run here.
NOT_CHECKED = {
    "architecture.md": "no runnable blocks (a diagram)",
    "bazel.md": "its ```sh blocks install Debian packages and run Bazel (tools/bazel_test.sh)",
}
DOCUMENTS = [REPO / "README.md"] + sorted(
    path for path in (REPO / "docs").glob("*.md") if path.name not in NOT_CHECKED)
RUN_LANGUAGES = ("python", "bash")
NOT_RUN = re.compile(r"^<!--\s*not run:(.*?)-->\s*$")
BLOCK_TIMEOUT_S = 600
BINARIES = ("search", "evaluate", "train", "export")


class Block:
  """One fenced code block of a markdown file."""

  def __init__(self, path, line, language, code, not_run):
    self.path = path            # the markdown file
    self.line = line            # 1-based line of the opening fence
    self.language = language    # the fence's info string, e.g. "python"
    self.code = code
    self.not_run = not_run      # None, or the reason given in a `<!-- not run: ... -->` comment

  @property
  def where(self):
    return f"{self.path.relative_to(REPO)}:{self.line}"


def code_blocks(path):
  """The fenced blocks of `path`, each with the `not run` reason of the line just before it."""
  lines = pathlib.Path(path).read_text().splitlines()
  blocks = []
  index = 0
  while index < len(lines):
    fence = re.match(r"^```(\S*)\s*$", lines[index])
    if not fence:
      index += 1
      continue
    start = index
    index += 1
    body = []
    while index < len(lines) and lines[index].rstrip() != "```":
      body.append(lines[index])
      index += 1
    if index == len(lines):
      raise ValueError(f"{path}:{start + 1}: code block is not closed")
    previous = start - 1
    while previous >= 0 and not lines[previous].strip():
      previous -= 1
    marker = NOT_RUN.match(lines[previous].strip()) if previous >= 0 else None
    blocks.append(Block(pathlib.Path(path), start + 1, fence.group(1), "\n".join(body) + "\n",
                        None if marker is None else marker.group(1).strip()))
    index += 1
  return blocks


def not_run_markers(path):
  """(line, reason) of every `<!-- not run ... -->` comment of `path`."""
  found = []
  for number, line in enumerate(pathlib.Path(path).read_text().splitlines(), 1):
    if line.strip().startswith("<!-- not run"):
      marker = NOT_RUN.match(line.strip())
      found.append((number, marker.group(1).strip() if marker else ""))
  return found


def _environment():
  bin_dir = os.path.dirname(sys.executable)
  return dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3",
              PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))


def run_block(block, work_dir):
  """Runs `block` in `work_dir`; a `CompletedProcess` (stdout and stderr together)."""
  code = block.code.replace("../shared", str(testing_utils.shared_dir()))
  if block.language == "python":
    script = pathlib.Path(work_dir) / f"block_{block.line}.py"
    script.write_text(code)
    command = [sys.executable, str(script)]
  else:
    command = ["bash", "-e", "-c", code]
  return subprocess.run(command, cwd=work_dir, env=_environment(), stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, text=True, timeout=BLOCK_TIMEOUT_S)


class DocsExamplesTest(unittest.TestCase):

  def _run_document(self, path):
    blocks = [b for b in code_blocks(path) if b.language in RUN_LANGUAGES and b.not_run is None]
    with tempfile.TemporaryDirectory() as work_dir:
      os.symlink(REPO / "launch", os.path.join(work_dir, "launch"))
      for block in blocks:
        start = time.monotonic()
        if "../shared" in block.code and not (testing_utils.shared_dir() / "data").is_dir():
          warnings.warn(f"{block.where}: skipped: it reads ../shared/data, absent at "
                        f"{testing_utils.shared_dir() / 'data'}")
          continue
        scripts = set(re.findall(r"\b(tenas-(?:search|evaluate|train|export))\b", block.code))
        missing = [name for name in sorted(scripts)
                   if not shutil.which(name, path=_environment()["PATH"])]
        self.assertFalse(missing, f"{block.where}: console scripts {missing} are not installed "
                                  f"beside {sys.executable}: pip install -e '.[test]'")
        process = run_block(block, work_dir)
        if process.returncode != 0:
          self.fail(f"{block.where}: the ```{block.language} block failed with exit code "
                    f"{process.returncode}:\n{block.code}\n--- its output, last 4000 "
                    f"characters ---\n{process.stdout[-4000:]}")
        print(f"{block.where}: ```{block.language} block ran in {time.monotonic() - start:.1f} s")

  def test_readme_examples_run(self):
    self._run_document(REPO / "README.md")

  def test_docs_examples_run(self):
    for path in DOCUMENTS[1:]:
      with self.subTest(document=path.name):
        self._run_document(path)

  def test_every_block_runs_or_says_why_not(self):
    for path in DOCUMENTS:
      blocks = {block.line: block for block in code_blocks(path)}
      for line, reason in not_run_markers(path):
        where = f"{path.relative_to(REPO)}:{line}"
        self.assertTrue(reason, f"{where}: a `not run` marker must give its reason: "
                                f"<!-- not run: needs ImageNet -->")
        following = [number for number in blocks if number > line]
        self.assertTrue(following, f"{where}: a `not run` marker must precede a code block")
        block = blocks[min(following)]
        self.assertIn(block.language, RUN_LANGUAGES,
                      f"{where}: marks a ```{block.language} block, which never runs anyway")
      for block in blocks.values():
        self.assertFalse(block.language in ("sh", "shell", "console", "py"),
                         f"{block.where}: write ```bash or ```python so that the block runs")

  def test_not_run_blocks_are_listed_with_their_reasons(self):
    listed = [f"{block.where}: {block.not_run}" for path in DOCUMENTS
              for block in code_blocks(path) if block.not_run is not None]
    listed += [f"docs/{name}: not checked: {why}" for name, why in NOT_CHECKED.items()]
    print("blocks not run:\n" + "\n".join(listed))
    self.assertTrue(all(line.split(": ", 1)[1] for line in listed))

  def test_readme_quick_start_is_what_ci_runs(self):
    ci_commands = [line for line in (REPO / ".ci" / "run").read_text().splitlines()
                   if line.startswith(("python3 -m venv", "python -m pytest"))]
    self.assertEqual(len(ci_commands), 2, f".ci/run's install and test commands: {ci_commands}")
    lines = (REPO / "README.md").read_text().splitlines()
    heading = lines.index("## Quick start") + 1
    block = next(b for b in code_blocks(REPO / "README.md") if b.line > heading)
    self.assertEqual(block.code.strip().splitlines(), ci_commands,
                     "README.md's quick start must be exactly the two commands .ci/run runs")
    self.assertIsNotNone(block.not_run, "the quick start installs a venv: mark it not run")

  def test_links_point_at_files_and_headings(self):
    for path in DOCUMENTS + [REPO / "docs" / name for name in NOT_CHECKED]:
      text = re.sub(r"```.*?```|`[^`]*`", "", path.read_text(), flags=re.S)  # code is no link
      for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", text):
        if target.startswith(("http://", "https://")):
          continue
        linked = (path.parent / target).resolve() if target else path
        self.assertTrue(linked.exists(), f"{path.name}: link to missing {target!r}")
        if anchor:
          self.assertIn(anchor, _anchors(linked.read_text()),
                        f"{path.name}: link to missing heading {target}#{anchor}")

  def test_flags_doc_lists_each_binarys_flags(self):
    text = (REPO / "docs" / "flags.md").read_text()
    for binary in BINARIES:
      module = importlib.import_module(f"tenas_tf.launch.{binary}")
      defined = sorted(holder.name for holder in module.FLAGS)
      section = re.search(rf"^## `?{binary}`?.*?$(.*?)(?=^## |\Z)", text, re.M | re.S)
      self.assertIsNotNone(section, f"docs/flags.md has no '## {binary}' section")
      documented = sorted(set(re.findall(r"^\| `--(?:\[no\])?(\w+)`", section.group(1), re.M)))
      self.assertEqual(documented, defined,
                       f"docs/flags.md's {binary} table must list exactly the flags "
                       f"tenas_tf.launch.{binary} defines")


def _anchors(markdown):
  """GitHub's anchors of the headings of `markdown`: lower case, punctuation dropped, - for spaces."""
  return {re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
          for line in markdown.splitlines() if line.startswith("#")}


if __name__ == "__main__":
  unittest.main()
