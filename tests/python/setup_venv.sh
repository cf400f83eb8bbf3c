#!/usr/bin/env bash
# Creates (or reuses) the Python venv that OceanQL's cross-checks use and prints its python path.
# The venv lives in $OCEANQL_VENV (default ~/.cache/oceanql-venv); it is rebuilt when requirements change.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${OCEANQL_VENV:-$HOME/.cache/oceanql-venv}
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv "$venv" >&2 || { apt-get install -y -qq python3-venv >&2 && python3 -m venv "$venv" >&2; }
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt" >&2
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
