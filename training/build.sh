#!/usr/bin/env bash
# Rebuilds every model from scratch, deterministically:
#   1. a Python venv in training/.venv from training/requirements.txt (reused while the pins are unchanged)
#   2. the TypeScript feature export (@patternflow/generators' events + @patternflow/sources' extractFeatures)
#   3. training/train.py: one RandomForest per source -> ONNX + manifest + golden rows
#   4. the golden check through the TypeScript runtime (onnxruntime-node)
# Models land in models/<source>/ only when every step succeeded.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export ONNXRUNTIME_NODE_INSTALL=skip

command -v python3 >/dev/null || { echo "build.sh: python3 is required (3.10+)" >&2; exit 1; }
# Node.js 24 first on PATH (installed from the npm registry when the node on PATH is older).
PATH=$(bash scripts/node.sh)
export PATH
started=$(date +%s)

VENV=training/.venv
STAMP="$VENV/.requirements.sha256"
want=$(sha256sum training/requirements.txt | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "build.sh: creating $VENV from training/requirements.txt"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r training/requirements.txt
  echo "$want" >"$STAMP"
fi

if [ ! -e node_modules/onnxruntime-node ]; then
  echo "build.sh: installing Node dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

node training/export-features.ts "$WORK/data"
# Single-threaded BLAS/OpenMP keeps float summation order, hence the bytes, identical across machines.
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$VENV/bin/python" training/train.py "$WORK/data" "$WORK/models"
PF_MODELS_DIR="$WORK/models" node --test libs/models/golden.test.ts >"$WORK/golden.log" 2>&1 || {
  cat "$WORK/golden.log" >&2
  echo "build.sh: the TypeScript runtime does not reproduce the trainer's golden predictions; models/ left unchanged" >&2
  exit 1
}

for dir in "$WORK/models"/*/; do
  source=$(basename "$dir")
  rm -rf "models/$source"
  mkdir -p "models/$source"
  cp "$dir"* "models/$source/"
done
ls -l models/*/*.onnx
echo "build.sh: models rebuilt in $(( $(date +%s) - started )) s"
