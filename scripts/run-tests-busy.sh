#!/usr/bin/env bash
# The whole suite on a busy machine: stress-ng keeps every core busy (one CPU hog per core,
# at the tests' own priority) from before the first test until the last, so a test that
# depends on how fast the machine is fails here rather than in CI. Prints how long it took.
set -uo pipefail
cd "$(dirname "$0")/.."
if ! command -v stress-ng >/dev/null; then
  echo "run-tests-busy: stress-ng is not installed (make system)" >&2
  exit 2
fi
cores=$(nproc)
stress-ng --cpu "$cores" --cpu-method matrixprod --quiet &
hog=$!
trap 'kill "$hog" 2>/dev/null; wait "$hog" 2>/dev/null' EXIT
echo "run-tests-busy: stress-ng --cpu $cores (pid $hog) keeps every core busy"
start=$(date +%s)
bash scripts/run-tests.sh "$@"
rc=$?
echo "run-tests-busy: exit $rc after $(( $(date +%s) - start )) s with $cores cores busy"
exit $rc
