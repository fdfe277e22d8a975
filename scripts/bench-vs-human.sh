#!/usr/bin/env bash
# framecast against Human (TensorFlow.js, wasm backend) in one run, on the
# same images and the same models: both get the identical decoded pixels
# (PNG files written by tools/refpixels), both run single-threaded, and
# decoding is excluded on both sides. Writes out/bench-*.json and prints the
# comparison; exits non-zero if framecast is not at least 3× faster.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${FRAMECAST_HOME:=$HOME/.cache/framecast}"
: "${ITERATIONS:=30}"
pixels="$FRAMECAST_HOME/reference-pixels"
mkdir -p out
go run ./tools/refpixels --out "$pixels" 2>/dev/null
(cd tools/reference && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
echo "framecast: $ITERATIONS runs per image ..." >&2
./bin/framecast bench --json --threads 1 --iterations "$ITERATIONS" "$pixels" > out/bench-framecast.json
echo "Human (TensorFlow.js wasm): $ITERATIONS runs per image ..." >&2
node tools/reference/bench.mjs --pixels "$pixels" --iterations "$ITERATIONS" --json > out/bench-human.json
node scripts/compare-bench.mjs out/bench-framecast.json out/bench-human.json
