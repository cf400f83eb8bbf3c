#!/usr/bin/env bash
# One command for a new user: install what is missing, build OceanQL (release),
# write the demo data set into ./oceanql-demo and open the REPL on it.
# Extra arguments go to oceanql, e.g. scripts/demo.sh -c "SELECT count(*) FROM sst"
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p oceanql
exec "${CARGO_TARGET_DIR:-target}/release/oceanql" --demo "$@"
