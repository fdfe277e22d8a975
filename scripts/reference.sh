#!/usr/bin/env bash
# Regenerates testdata/reference from Human's own pipeline (TensorFlow.js,
# wasm backend) on the pixels framecast's decoder produces for the test
# images. Run after changing the decoder or the test images; commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${FRAMECAST_HOME:=$HOME/.cache/framecast}"
pixels="$FRAMECAST_HOME/reference-pixels"
go run ./tools/refpixels --out "$pixels"
(cd tools/reference && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
node tools/reference/generate.mjs --pixels "$pixels" --out testdata/reference --raw sample1,frame-640x480
