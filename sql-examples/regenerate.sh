#!/usr/bin/env bash
# Re-creates sql-examples/NAME.expected.csv from each example's independent computation
# (`python NAME_check.py DIR --write`: numpy/xarray/netCDF4/pyarrow, never OceanQL's output),
# after writing the demo data set afresh with the current code.
#
# Usage: sql-examples/regenerate.sh [DIR] [NAME...]
#   DIR   where to write the demo (default: a temporary directory, removed afterwards)
#   NAME  only these examples (default: every NAME_check.py)
# Then check that OceanQL agrees: cargo test -p oceanql --test cli sql_examples
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
if [ $# -ge 1 ]; then dir=$1; shift; else dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT; fi
python=$("$root/tests/python/setup_venv.sh")
(cd "$root" && cargo run --release -q -p oceanql -- demo "$dir" >/dev/null)
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for check in "$here"/*_check.py; do names+=("$(basename "$check" _check.py)"); done
fi
for name in "${names[@]}"; do
  "$python" "$here/${name}_check.py" "$dir" --write
done
