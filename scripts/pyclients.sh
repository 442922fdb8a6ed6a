#!/usr/bin/env bash
# The foreign Kafka clients the compression tests produce with: Python's confluent-kafka,
# whose PyPI wheel bundles librdkafka built with every codec (gzip, snappy, lz4, zstd).
# Installs it once into a venv under .tools/ (reused while the pin is unchanged) and prints
# the venv's python on stdout; every problem is one line on stderr and a non-zero exit.
#   scripts/pyclients.sh            -> /…/.tools/pyclients-<pin>/bin/python
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PIN=confluent-kafka==2.16.1
VENV="$ROOT/.tools/pyclients-${PIN#*==}"

fail() { echo "pyclients.sh: $*" >&2; exit 1; }

if [ -x "$VENV/bin/python" ] && [ -f "$VENV/.installed" ]; then
  echo "$VENV/bin/python"
  exit 0
fi
command -v python3 >/dev/null || fail "python3 is required (3.9+) to install $PIN"
rm -rf "$VENV"
mkdir -p "$ROOT/.tools"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
python3 -m venv "$VENV" >"$log" 2>&1 || fail "python3 -m venv failed (Debian/Ubuntu: apt-get install python3-venv): $(tail -n 1 "$log")"
# --only-binary: the wheel carries librdkafka with its codecs; a source build would need
# librdkafka's headers and may lack codecs, so it is refused rather than half-working.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: "$PIN" >"$log" 2>&1 ||
  fail "pip install $PIN failed: $(grep -v '^\s*$' "$log" | tail -n 1)"
"$VENV/bin/python" -c 'import confluent_kafka' >"$log" 2>&1 ||
  fail "confluent_kafka does not import: $(tail -n 1 "$log")"
touch "$VENV/.installed"
echo "$VENV/bin/python"
