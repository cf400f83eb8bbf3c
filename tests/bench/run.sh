#!/usr/bin/env bash
# Benchmarks OceanQL against its peers (xarray + dask, xarray-sql, DuckDB + spatial, SedonaDB)
# on the benchmark-size demo data set, in one run on one machine, and prints a markdown table.
#   tests/bench/run.sh [--quick] [--extra] [bench.py options: --queries Q1,Q6 --engines ...]
#     --quick: the default-size demo (1° grid) instead of the 0.25° benchmark data set
#     --extra: also the swath, multi-year and L2 match-up rows (slow peers: ~15 min more)
# Needs: the release build (built here), a venv with the peers (made here; a peer that does not
# install is reported and left out), the data set (written here by `oceanql demo` once).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
scripts/setup.sh
target=${CARGO_TARGET_DIR:-$root/target}
# One invocation: built on its own, the example would rebuild the dependencies with other features.
cargo build --release -p oceanql -p oceanql-connectors --bins --example raw_decode >&2

venv=${OCEANQL_BENCH_VENV:-$HOME/.cache/oceanql-bench-venv}
reqs=tests/bench/requirements.txt
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$reqs" "$venv/requirements.txt"; then
  python3 -m venv "$venv"
  pip="$venv/bin/pip install -q --disable-pip-version-check"
  if ! $pip -r "$reqs" >&2; then
    # One package at a time, so that a peer that does not install here leaves the others.
    grep -Ev '^\s*(#|$)' "$reqs" | while read -r pkg; do
      $pip "$pkg" >&2 || echo "bench: could not install $pkg: its engine is reported as not installed" >&2
    done
  fi
  cp "$reqs" "$venv/requirements.txt"
fi

size=benchmark; data=${OCEANQL_BENCH_DATA:-$HOME/.cache/oceanql-bench-data}; args=()
for a in "$@"; do
  if [ "$a" = "--quick" ]; then size=default; data="$data-quick"; else args+=("$a"); fi
done
flag=""; [ "$size" = benchmark ] && flag="--benchmark"
# The data set's layout (bump when `oceanql demo` writes the files differently): a data set
# of another layout is written again. 2: drifters.parquet in pages of 1,024 rows.
layout=2
if [ ! -f "$data/catalog.sql" ] || { [ "$size" = benchmark ] && [ ! -f "$data/sst_long.parquet" ]; } \
   || [ "$(cat "$data/.bench-layout" 2>/dev/null)" != "$layout" ]; then
  # Only a directory `oceanql demo` wrote is removed.
  if [ -e "$data" ] && ! head -1 "$data/catalog.sql" 2>/dev/null | grep -q '^-- OceanQL demo catalog'; then
    echo "bench: $data is not a data set written by 'oceanql demo'; set OCEANQL_BENCH_DATA to another directory" >&2
    exit 1
  fi
  rm -rf "$data"
  "$target/release/oceanql" demo "$data" $flag >&2
  echo "$layout" > "$data/.bench-layout"
fi
exec "$venv/bin/python" tests/bench/bench.py --oceanql "$target/release/oceanql" --data "$data" \
  --raw-decode "$target/release/examples/raw_decode" --load "$(uptime | sed 's/.*load average: //')" "${args[@]}"
