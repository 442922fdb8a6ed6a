#!/usr/bin/env bash
# Runs one lane of tests, or all of them:  scripts/test.sh unit|integration|fuzz|e2e|faults|all
# unit:        *.test.ts beside the code in libs/, services/, cli/, tools/, training/, bench/ and scripts/ (no stack needed)
# integration: test/integration/ against the real local stack
# e2e:         test/e2e/ against the real stack and the four services as processes
# fuzz:        test/fuzz/ hostile inputs through the ingestor's decode path (PF_FUZZ_RUNS, default 10000)
# faults:      test/faults/ fault injection on the real stack (PF_FAULTS_MODE=quick|full, default quick)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
lane=${1:-all}
# The tests run TypeScript through Node's own type stripping: Node.js 24 first on PATH.
PATH=$(bash scripts/node.sh)
export PATH
# kafkajs's negative setTimeout delay (tulios/kafkajs#1751): see the Makefile.
export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--disable-warning=TimeoutNegativeWarning"

find_tests() { find "$@" -name '*.test.ts' -not -path '*/node_modules/*' 2>/dev/null | sort; }

case "$lane" in
  unit) files=$(find_tests libs services cli tools training bench scripts) ;;
  integration) files=$(find_tests test/integration) ;;
  e2e) files=$(find_tests test/e2e) ;;
  fuzz) files=$(find_tests test/fuzz) ;;
  faults) files=$(find_tests test/faults) ;;
  all) files="$(find_tests libs services cli tools training bench scripts) $(find_tests test/integration) $(find_tests test/fuzz) $(find_tests test/e2e) $(find_tests test/faults)" ;;
  *) echo "usage: $0 unit|integration|e2e|fuzz|faults|all" >&2; exit 2 ;;
esac

if [ "$lane" != unit ]; then
  eval "$(bash scripts/stack.sh env)"
  bash scripts/stack.sh status >/dev/null || {
    echo "test: the local stack is not up; run 'make up' (or 'make test', which starts it)" >&2
    exit 1
  }
fi

# Integration and e2e files share one broker and database: run files one at a time.
concurrency=1
[ "$lane" = unit ] && concurrency=2
# shellcheck disable=SC2086
exec node --test --test-concurrency="$concurrency" --test-reporter=spec $files
