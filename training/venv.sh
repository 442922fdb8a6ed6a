#!/usr/bin/env bash
# The trainer's Python venv, training/.venv, from training/requirements.txt: created on first
# use and rebuilt only when the pins change (a stamp holds the sha256 of requirements.txt).
# Prints the venv's python on stdout; progress goes to stderr. Used by build.sh and retrain.ts.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
command -v python3 >/dev/null || { echo "venv.sh: python3 is required (3.10+)" >&2; exit 1; }
VENV=training/.venv
STAMP="$VENV/.requirements.sha256"
want=$(sha256sum training/requirements.txt | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "venv.sh: creating $VENV from training/requirements.txt" >&2
  started=$(date +%s)
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r training/requirements.txt >&2
  echo "$want" >"$STAMP"
  echo "venv.sh: $VENV ready in $(( $(date +%s) - started )) s" >&2
fi
echo "$ROOT/$VENV/bin/python"
