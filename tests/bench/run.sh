#!/usr/bin/env bash
# Benchmarks OceanQL against xarray + dask on the benchmark-size demo data set,
# in one run on one machine, and prints a markdown table.
#   tests/bench/run.sh [--quick]      (--quick: default-size demo instead of 0.25°)
# Needs: the release build (built here), a venv with the peers (made here).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
scripts/setup.sh
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --release -p oceanql >&2
venv=${OCEANQL_BENCH_VENV:-$HOME/.cache/oceanql-bench-venv}
if [ ! -x "$venv/bin/python" ] || ! cmp -s tests/bench/requirements.txt "$venv/requirements.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r tests/bench/requirements.txt
  cp tests/bench/requirements.txt "$venv/requirements.txt"
fi
size=benchmark; data=${OCEANQL_BENCH_DATA:-$HOME/.cache/oceanql-bench-data}
if [ "${1:-}" = "--quick" ]; then size=default; data="$data-quick"; fi
if [ ! -f "$data/catalog.sql" ]; then
  flag=""; [ "$size" = benchmark ] && flag="--benchmark"
  "$target/release/oceanql" demo "$data" $flag >&2
fi
exec "$venv/bin/python" tests/bench/bench.py --oceanql "$target/release/oceanql" --data "$data"
