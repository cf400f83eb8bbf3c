#!/usr/bin/env bash
# One command to set up and pass the tests: installs what is missing
# (libnetcdf-dev, a Python venv with xarray/netCDF4/zarr for the cross-checks)
# and runs every test of the workspace (unit, sqllogictest, cross-checks, CLI).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The cross-check tests create and reuse this venv (tests/python/setup_venv.sh).
tests/python/setup_venv.sh >/dev/null
cargo test --workspace --no-fail-fast "$@"
