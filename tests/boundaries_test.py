"""The package's floors and public names, checked on the source (docs/architecture.md).

A module may import only from its own package and from the packages its floor may use, and only
the names a package's `__init__` lists; no library module reads absl flags. Parsed with `ast`, so
the rules hold for every module, imported by a test or not.
"""

import ast
import pathlib
import tempfile
import unittest

from absl.testing import absltest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "tenas_tf"

# Package -> the packages it may import (besides itself and `tenas_tf.checks`).
MAY_IMPORT = {
    "spaces": set(),
    "indicators": set(),
    "data": set(),
    "search": {"spaces", "indicators"},
    "train": {"spaces", "data"},
    "export": {"spaces"},
    "experiments": {"spaces", "indicators", "data", "search", "train", "export"},
    "launch": {"spaces", "indicators", "data", "search", "train", "export", "experiments"},
}
# The root re-exports `score`, registers the exported model classes and imports no run or binary.
ROOT_MAY_IMPORT = {"search", "export"}


def _package_of(path, root):
  parts = path.relative_to(root).parts
  return parts[0] if len(parts) > 1 else None  # None: a top-level module or the root


def _public_names(root, package):
  """The names a package's `__init__` imports (its public API)."""
  tree = ast.parse((root / package / "__init__.py").read_text())
  names = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom):
      names.update(alias.asname or alias.name for alias in node.names)
  return names


def _imports(path):
  """(line, imported package, imported name or None, local alias) of every tenas_tf import."""
  found = []
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tenas_tf"):
      parts = node.module.split(".")
      for alias in node.names:
        if len(parts) == 1:  # from tenas_tf import <package or module>
          found.append((node.lineno, alias.name, None, alias.asname or alias.name))
        elif len(parts) == 2:  # from tenas_tf.<package> import <name>
          found.append((node.lineno, parts[1], alias.name, alias.asname or alias.name))
        else:  # from tenas_tf.<package>.<module> import ...
          found.append((node.lineno, parts[1], ".".join(parts[2:]), None))
    elif isinstance(node, ast.Import):
      for alias in node.names:
        if alias.name.startswith("tenas_tf."):
          parts = alias.name.split(".")
          found.append((node.lineno, parts[1], ".".join(parts[2:]) or None, None))
  return found


def _attributes_of(path, alias):
  """Every `alias.<attr>` used in the module."""
  return {(node.lineno, node.attr) for node in ast.walk(ast.parse(path.read_text()))
          if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
          and node.value.id == alias}


def floor_violations(root):
  """Imports in the package at `root` that break the floors or bypass a package's public names."""
  public = {package: _public_names(root, package) for package in MAY_IMPORT}
  problems = []
  for path in sorted(root.rglob("*.py")):
    own = _package_of(path, root)
    where = path.relative_to(root.parent)
    allowed = MAY_IMPORT[own] if own else (ROOT_MAY_IMPORT if path.name == "__init__.py"
                                           else set())
    for line, package, name, alias in _imports(path):
      if package in (own, "checks"):
        continue
      if package not in MAY_IMPORT:
        problems.append(f"{where}:{line} imports unknown tenas_tf.{package}")
        continue
      if package not in allowed:
        problems.append(f"{where}:{line} imports {package}, above or beside its floor "
                        f"(allowed: {sorted(allowed)})")
      if name is not None and name not in public[package]:
        problems.append(f"{where}:{line} imports {package}.{name}, not a public name of "
                        f"tenas_tf.{package}")
      if name is None and alias is not None:
        for use_line, attr in sorted(_attributes_of(path, alias)):
          if attr not in public[package]:
            problems.append(f"{where}:{use_line} uses {package}.{attr}, not a public name of "
                            f"tenas_tf.{package}")
  return problems


class BoundariesTest(absltest.TestCase):

  def test_every_package_is_known(self):
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    self.assertEqual(packages, set(MAY_IMPORT))

  def test_imports_follow_the_floors_and_use_public_names_only(self):
    problems = floor_violations(PACKAGE)
    self.assertEmpty(problems, "\n".join(problems))

  def test_no_library_module_reads_absl_flags(self):
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
      if _package_of(path, PACKAGE) == "launch":
        continue
      for node in ast.walk(ast.parse(path.read_text())):
        names = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                 [f"{node.module}.{alias.name}" for alias in node.names]
                 if isinstance(node, ast.ImportFrom) and node.module else [])
        if any(name == "absl.flags" or name.startswith("absl.flags.") for name in names):
          offenders.append(str(path.relative_to(PACKAGE.parent)))
    self.assertEmpty(offenders)

  def test_the_checker_finds_each_kind_of_violation(self):
    # A small fake package: the rules must be able to fail.
    root = pathlib.Path(self.enter_context(tempfile.TemporaryDirectory())) / "tenas_tf"
    for package in MAY_IMPORT:
      (root / package).mkdir(parents=True)
      (root / package / "__init__.py").write_text(
          "from tenas_tf.spaces.registry import get_space\n" if package == "spaces" else "")
    (root / "__init__.py").write_text("from tenas_tf.experiments import run\n")
    (root / "search" / "probe.py").write_text(
        "from tenas_tf.data import pipelines\n"
        "from tenas_tf import spaces\n"
        "from tenas_tf.spaces import get_space\n"
        "from tenas_tf.spaces.ops import _check\n"
        "x = spaces._private_thing\n"
        "y = spaces.get_space\n")
    self.assertEqual(floor_violations(root), [
        "tenas_tf/__init__.py:1 imports experiments, above or beside its floor "
        "(allowed: ['export', 'search'])",
        "tenas_tf/__init__.py:1 imports experiments.run, not a public name of "
        "tenas_tf.experiments",
        "tenas_tf/search/probe.py:1 imports data, above or beside its floor "
        "(allowed: ['indicators', 'spaces'])",
        "tenas_tf/search/probe.py:1 imports data.pipelines, not a public name of tenas_tf.data",
        "tenas_tf/search/probe.py:5 uses spaces._private_thing, not a public name of "
        "tenas_tf.spaces",
        "tenas_tf/search/probe.py:4 imports spaces.ops, not a public name of tenas_tf.spaces",
    ])


if __name__ == "__main__":
  unittest.main()
