#!/usr/bin/env bash
# Build dist/lumiku-tui: one self-contained x86_64 glibc Linux executable (PyInstaller one-file).
#
#   packaging/build_binary.sh            # -> dist/lumiku-tui
#   PYTHON=python3.11 packaging/build_binary.sh
#   LUMIKU_BUILD_REF=v0.1.0 packaging/build_binary.sh   # a committed version, not the working tree
#
# Reproducible: every input is pinned (requirements-*.txt, wheels only), the timestamps
# come from SOURCE_DATE_EPOCH (default: the last commit's time), PYTHONHASHSEED=0, and the
# build runs in a fresh virtual environment under build/binary/. The same commit built with
# the same Python on the same distribution gives the same bytes (checked: sha256 printed).
#
# The glibc of the build machine is the oldest glibc the binary runs on: build on the oldest
# distribution you deploy to (Debian 12 / bookworm, like node:*-bookworm and oven/bun images).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
build_dir="${LUMIKU_BUILD_DIR:-$repo/build/binary}"
dist_dir="${LUMIKU_DIST_DIR:-$repo/dist}"

if ! "$python" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    echo "error: $python is not Python 3.11 or newer." >&2
    echo "  Next step: PYTHON=/path/to/python3.11 $0" >&2
    exit 2
fi
if [ "$("$python" -c 'import sysconfig; print(sysconfig.get_config_var("Py_ENABLE_SHARED") or 0)')" != "1" ]; then
    echo "error: $python was built without a shared libpython, which PyInstaller needs." >&2
    echo "  Next step: use a Python built with --enable-shared (Debian's python3, pyenv with" >&2
    echo "  PYTHON_CONFIGURE_OPTS=--enable-shared, or the python:3.11 image)." >&2
    exit 2
fi

build_ref="${LUMIKU_BUILD_REF:-}"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct ${build_ref:+"$build_ref"} 2>/dev/null || echo 1767225600)}"
export PYTHONHASHSEED=0
export PYTHONDONTWRITEBYTECODE=1
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1
export TZ=UTC LC_ALL=C.UTF-8

started=$(date +%s)
rm -rf "$build_dir"
mkdir -p "$build_dir" "$dist_dir"
echo "==> virtual environment in $build_dir/venv ($("$python" --version))"
"$python" -m venv "$build_dir/venv"
venv_python="$build_dir/venv/bin/python"

echo "==> pinned build tools and runtime dependencies (wheels only)"
"$venv_python" -m pip install --quiet --no-deps --only-binary :all: \
    -r "$repo/packaging/requirements-build.txt" \
    -r "$repo/packaging/requirements-runtime.txt"

# A copy of the sources, so a build never writes into the working tree and sees one snapshot of it.
src="$build_dir/src"
mkdir -p "$src"
shipped=(pyproject.toml README.md lumiku_tui migrations lumiku.toml)
if [ -n "$build_ref" ]; then
    echo "==> lumiku-tui at $build_ref ($(git -C "$repo" rev-parse --short "$build_ref"))"
    git -C "$repo" archive "$build_ref" "${shipped[@]}" | tar -xf - -C "$src"
else
    echo "==> lumiku-tui from the working tree $repo"
    (cd "$repo" && tar -cf - --exclude='*.pyc' --exclude=__pycache__ "${shipped[@]}") | tar -xf - -C "$src"
fi
# A regular (not editable) install: the wheel places the shipped migrations at lumiku_tui/_shipped_migrations
# and their runbook at lumiku_tui/lumiku.toml.
"$venv_python" -m pip install --quiet --no-deps --no-build-isolation "$src"
"$venv_python" -m pip check

echo "==> PyInstaller one-file build"
# From the build folder: run from the repository, the source tree (without the shipped
# migrations) would shadow the installed package when the hooks look for data files.
cd "$build_dir"
"$venv_python" -m PyInstaller --noconfirm --clean --log-level WARN \
    --workpath "$build_dir/work" --distpath "$dist_dir" \
    "$repo/packaging/lumiku-tui.spec"

binary="$dist_dir/lumiku-tui"
# The way it will run in an app container: no environment, no Python on PATH.
(cd / && env -i PATH=/nonexistent "$binary" --version)
libpython="$("$python" -c 'import os, sysconfig as s; print(os.path.join(s.get_config_var("LIBDIR"), s.get_config_var("INSTSONAME")))')"
if command -v objdump >/dev/null 2>&1 && [ -f "$libpython" ]; then
    floor=$(objdump -T "$libpython" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
    echo "==> runs on x86_64 Linux with glibc >= ${floor#GLIBC_} (the bundled libpython's requirement)"
fi
size=$(stat -c %s "$binary")
echo "==> $binary: $((size / 1024 / 1024)) MiB ($size bytes), built in $(( $(date +%s) - started )) s"
sha256sum "$binary"
