#!/usr/bin/env bash
# Rebuilds every model from scratch, deterministically:
#   1. a Python venv in training/.venv from training/requirements.txt (reused while the pins are unchanged)
#   2. the TypeScript feature export (@patternflow/generators' events + @patternflow/sources' extractFeatures)
#   3. training/train.py: one RandomForest per source -> ONNX + manifest + golden rows
#   4. training/reference.ts: the manifest's drift reference (feature bins, held-out label shares)
#   5. training/sign.ts: Ed25519 signature over each manifest (PF_MODEL_SIGNING_KEY; the DEV key when unset)
#   6. the golden check through the TypeScript runtime (onnxruntime-node), verifying the signatures
# Versions land in models/<name>/<version>/ only when every step succeeded. Versions are
# immutable: an existing version is left alone when the rebuild is identical, and the build
# fails when it is not (set PF_MODEL_VERSION to write a new version).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export ONNXRUNTIME_NODE_INSTALL=skip

# Node.js 24 first on PATH (installed from the npm registry when the node on PATH is older).
PATH=$(bash scripts/node.sh)
export PATH
started=$(date +%s)

PYTHON=$(bash training/venv.sh)

if [ ! -e node_modules/onnxruntime-node ]; then
  echo "build.sh: installing Node dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

DEV_KEY=training/dev-keys/DEV-ONLY-model-signing.pem
if [ -z "${PF_MODEL_SIGNING_KEY:-}" ]; then
  echo "build.sh: PF_MODEL_SIGNING_KEY is not set: signing with the repo's DEV key ($DEV_KEY), which only the DEV public key trusts" >&2
  PF_MODEL_SIGNING_KEY=$DEV_KEY
fi
export PF_MODEL_SIGNING_KEY

node training/export-features.ts "$WORK/data"
# Single-threaded BLAS/OpenMP keeps float summation order, hence the bytes, identical across machines.
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$PYTHON" training/train.py "$WORK/data" "$WORK/models" \
  ${PF_MODEL_VERSION:+--version "$PF_MODEL_VERSION"}
node training/reference.ts "$WORK/models"/*/*/
node training/sign.ts "$WORK/models"/*/*/
node training/sign.ts public-key >"$WORK/signing.pub.pem"
PF_MODELS_DIR="$WORK/models" PF_MODEL_PUBLIC_KEY="$WORK/signing.pub.pem" \
  node --test libs/models/golden.test.ts >"$WORK/golden.log" 2>&1 || {
  cat "$WORK/golden.log" >&2
  echo "build.sh: the TypeScript runtime does not reproduce the trainer's golden predictions; models/ left unchanged" >&2
  exit 1
}

# Every version first, then the copy: a conflict leaves models/ untouched.
for dir in "$WORK/models"/*/*/; do
  version=$(basename "$dir")
  name=$(basename "$(dirname "$dir")")
  target="models/$name/$version"
  if [ -d "$target" ]; then
    for file in model.onnx manifest.json golden.json; do
      cmp -s "$dir$file" "$target/$file" || {
        echo "build.sh: $target exists and the rebuilt $file differs; versions are immutable: set PF_MODEL_VERSION to a new version" >&2
        exit 1
      }
    done
  fi
done
for dir in "$WORK/models"/*/*/; do
  version=$(basename "$dir")
  name=$(basename "$(dirname "$dir")")
  target="models/$name/$version"
  if [ -d "$target" ]; then
    echo "build.sh: $target rebuilt byte for byte; left as it is (with its signature)"
  else
    mkdir -p "$target"
    cp "$dir"* "$target/"
    echo "build.sh: added $target"
  fi
done
ls -l models/*/*/model.onnx
echo "build.sh: models built in $(( $(date +%s) - started )) s"
