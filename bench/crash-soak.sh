#!/usr/bin/env bash
# Crash soak: the kill -9 test of tests/test-crash.c with many more kills (default 200)
# on the release build. Every acknowledged event must be in the log exactly once and the
# server must start after every kill. Usage: bench/crash-soak.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-200}
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$(nproc)" --target test-crash aisle >/dev/null
start=$(date +%s)
AISLE_CRASH_ROUNDS=$rounds build/release/tests/test-crash
echo "crash soak: $rounds kills in $(( $(date +%s) - start )) s"
