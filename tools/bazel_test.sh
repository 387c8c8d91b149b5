#!/usr/bin/env bash
# Sets Bazel up offline with Debian's bazel-bootstrap (Bazel 4.2.3) and runs it: builds every target
# (`bazel build //...`) and runs a few fast tests. pytest stays the CI gate; see docs/bazel.md.
#
#   tools/bazel_test.sh                                 # set up, build //..., run the fast tests
#   tools/bazel_test.sh //:tests_search_prune_test ...  # set up, build //..., run these tests
#   tools/bazel_test.sh --setup-only                    # set up only (then use bazel directly)
#
# Setting up means: apt-get install the Debian packages Bazel needs, copy Debian's rules_cc with two
# lines patched for Bazel 4, write a stub @remote_coverage_tools, and write .bazelrc.offline
# (git-ignored, imported by .bazelrc) with the --override_repository flags, the venv's interpreter
# and --deleted_packages for BUILD files inside .venv (tensorflow ships some).
#
# Environment:
#   PYTHON            the interpreter with the project installed (default: .venv/bin/python3)
#   TENAS_BAZEL_DEPS  where the patched rule sets go (default: ~/.cache/tenas_tf_bazel)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PYTHON="${PYTHON:-$REPO/.venv/bin/python3}"
DEPS="${TENAS_BAZEL_DEPS:-${XDG_CACHE_HOME:-$HOME/.cache}/tenas_tf_bazel}"
# The default tests: fast ones (seconds each), those of these files that exist.
FAST_TEST_FILES=(
  tests/boundaries_test.py
  tests/search/ranking_test.py
  tests/experiments/correlation_test.py
  tests/data/datasets_test.py
)

die() { echo "bazel_test.sh: error: $*" >&2; exit 1; }
say() { echo "== $*"; }

setup_only=0
tests=()
for arg in "$@"; do
  case "$arg" in
    --setup-only) setup_only=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $arg (see --help)" ;;
    *) tests+=("$arg") ;;
  esac
done
if ! ((${#tests[@]})); then
  for file in "${FAST_TEST_FILES[@]}"; do
    [ -f "$file" ] || continue
    target="${file%.py}"
    tests+=("//:${target//\//_}")  # tests/search/ranking_test.py -> //:tests_search_ranking_test
  done
fi

# 1. Debian's Bazel and the rule sets Bazel 4 loads for Python targets (rules_cc for the C++
#    toolchain every test resolves, rules_java, platforms). bazel-skylib and bazel-rules-proto
#    are not needed.
PACKAGES=(bazel-bootstrap bazel-rules-cc bazel-rules-java bazel-platforms)
missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep -q "ok installed" ||
    missing+=("$package")
done
if ((${#missing[@]})); then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  say "apt-get install ${missing[*]}"
  "${sudo[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends \
    "${missing[@]}"
fi
command -v bazel >/dev/null || die "no bazel on PATH after installing bazel-bootstrap"
RULES_CC=/usr/share/bazel/rules/cc
RULES_JAVA=/usr/share/bazel/rules/java
PLATFORMS=/usr/share/bazel/tools/platforms
for dir in "$RULES_CC" "$RULES_JAVA" "$PLATFORMS"; do
  [ -f "$dir/WORKSPACE" ] || die "$dir/WORKSPACE missing: the Debian package moved its files?"
done

# 2. The project's interpreter: Bazel runs every py_binary/py_test with it (--python_path), so
#    tensorflow, keras, absl and numpy come from the venv. Not resolved: a venv's python is a
#    symlink, and only through the venv path does Python find the venv's site-packages.
[ -x "$PYTHON" ] ||
  die "no interpreter at $PYTHON: python3 -m venv .venv && .venv/bin/pip install -e '.[test]' (or set PYTHON)"
"$PYTHON" - <<'EOF' || die "$PYTHON lacks the project's packages: pip install -e '.[test]'"
import importlib.util, sys
missing = [m for m in ("absl", "numpy", "tensorflow", "keras") if importlib.util.find_spec(m) is None]
if missing:
  sys.exit(f"missing: {', '.join(missing)}")
EOF

# 3. rules_cc: Debian ships 0.0.4, which loads `use_cpp_toolchain` from
#    @bazel_tools//tools/cpp:toolchain_utils.bzl; Bazel 4.2.3's bazel_tools does not have it
#    (it came with Bazel 5). A copy with those two uses replaced by the toolchain type they return.
mkdir -p "$DEPS"
rm -rf "$DEPS/rules_cc.new"
cp -r "$RULES_CC" "$DEPS/rules_cc.new"
for file in cc/private/rules_impl/compiler_flag.bzl cc/private/rules_impl/cc_flags_supplier.bzl; do
  [ -f "$DEPS/rules_cc.new/$file" ] || die "$RULES_CC/$file missing: another rules_cc version?"
  sed -i -e 's/, "use_cpp_toolchain")/)/' \
    -e 's|use_cpp_toolchain()|["@bazel_tools//tools/cpp:toolchain_type"]|' \
    "$DEPS/rules_cc.new/$file"
done
if grep -rq "use_cpp_toolchain" "$DEPS/rules_cc.new"; then
  die "rules_cc in $RULES_CC uses use_cpp_toolchain elsewhere too: extend the patch in $0"
fi
rm -rf "$DEPS/rules_cc"
mv "$DEPS/rules_cc.new" "$DEPS/rules_cc"

# 4. @remote_coverage_tools: every test has an implicit dependency on its coverage report
#    generator, a prebuilt zip on mirror.bazel.build that no Debian package ships. An empty stub:
#    tests build and run; `bazel coverage` does not work.
mkdir -p "$DEPS/remote_coverage_tools"
: >"$DEPS/remote_coverage_tools/WORKSPACE"
cat >"$DEPS/remote_coverage_tools/BUILD" <<'EOF'
# Stub written by tools/bazel_test.sh: no coverage tools offline (`bazel coverage` does not work).
package(default_visibility = ["//visibility:public"])

filegroup(name = "coverage_report_generator")

filegroup(name = "lcov_merger")
EOF

# 5. BUILD files that are not the project's (tensorflow's headers in .venv ship BUILD.bazel files
#    that load repositories we do not have): the package of every BUILD file in a git-ignored
#    folder is deleted, so that `//...` does not load it. Bazel follows symlinked folders
#    (.venv/lib64 -> lib), so find does too; git cannot look past a symlink, so the folders on the
#    way are asked, from the top.
ignored_path() {  # true if $1 or a folder above it is git-ignored
  local prefix="" part IFS=/
  for part in $1; do
    prefix="${prefix:+$prefix/}$part"
    git check-ignore -q "$prefix" 2>/dev/null && return 0
  done
  return 1
}
deleted=()
while IFS= read -r build_file; do
  build_file="${build_file#./}"
  if ignored_path "$build_file"; then deleted+=("$(dirname "$build_file")"); fi
done < <(find -L . \( -path ./.git -o -path './bazel-*' \) -prune -o \
           -type f \( -name BUILD -o -name BUILD.bazel \) -print 2>/dev/null)
deleted="$(IFS=,; echo "${deleted[*]}")"

{
  echo "# Written by tools/bazel_test.sh: machine-specific, git-ignored; imported by .bazelrc."
  for command in build query fetch sync; do
    echo "$command --override_repository=rules_cc=$DEPS/rules_cc"
    echo "$command --override_repository=rules_java=$RULES_JAVA"
    echo "$command --override_repository=platforms=$PLATFORMS"
    echo "$command --override_repository=remote_coverage_tools=$DEPS/remote_coverage_tools"
    [ -z "$deleted" ] || echo "$command --deleted_packages=$deleted"
  done
  echo "build --python_path=$PYTHON"
} >.bazelrc.offline
say "wrote $REPO/.bazelrc.offline"
((setup_only)) && exit 0

# 6. Build everything, run the tests asked for.
say "bazel build //..."
bazel build //...
say "bazel test ${tests[*]}"
bazel test "${tests[@]}"
