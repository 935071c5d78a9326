#!/usr/bin/env bash
# Start-up of the single-file binary against the pip-installed tool, on the same database.
#
#   lumiku-tui demo --serve > /tmp/demo_url &      # any database works; the demo has 22 migrations
#   DATABASE_URL=$(cat /tmp/demo_url) packaging/measure_startup.sh dist/lumiku-tui "$(command -v lumiku-tui)"
#
# Prints hyperfine tables (--version: bare start-up; status: start-up plus one query) and the
# launch-to-overview time of the wizard under a pseudo-terminal. Needs hyperfine.
set -euo pipefail

binary="${1:?usage: $0 BINARY PIP_INSTALLED_LUMIKU_TUI [MIGRATIONS_DIR]}"
installed="${2:?usage: $0 BINARY PIP_INSTALLED_LUMIKU_TUI [MIGRATIONS_DIR]}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
migrations="${3:-$repo/migrations}"
: "${DATABASE_URL:?set DATABASE_URL to the database to run status against}"
runs="${RUNS:-20}"
python="${PYTHON:-python3}"

# The URL travels in the environment, so it never appears on a command line or in hyperfine's output.
export DATABASE_URL
echo "binary: $(stat -c %s "$binary") bytes; $(nproc) cores; $(uname -sr)"
# Timing a refused connection would measure nothing: both must reach the database first.
for tool in "$binary" "$installed"; do
    code=0
    "$tool" status --migrations "$migrations" > /dev/null || code=$?
    if [ "$code" -ge 2 ]; then
        echo "error: $tool status exits $code: fix the database or DATABASE_URL first." >&2
        exit 2
    fi
done
hyperfine -N --warmup 3 --runs "$runs" --style basic \
    -n "binary --version" "$binary --version" \
    -n "pip --version" "$installed --version"
hyperfine -N --warmup 3 --runs "$runs" --style basic -i \
    -n "binary status" "$binary status --migrations $migrations" \
    -n "pip status" "$installed status --migrations $migrations"
first=$(ls "$migrations" | grep -m1 '^[0-9]')
"$python" "$repo/packaging/time_to_overview.py" --runs "${OVERVIEW_RUNS:-10}" --expect "$first" -- \
    "$binary" --migrations "$migrations"
"$python" "$repo/packaging/time_to_overview.py" --runs "${OVERVIEW_RUNS:-10}" --expect "$first" -- \
    "$installed" --migrations "$migrations"
