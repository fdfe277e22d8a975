#!/usr/bin/env bash
# Checks the system packages framecast builds against and says how to
# install what is missing, instead of letting a compiler error explain it.
set -u
missing=()
command -v go >/dev/null || missing+=("Go 1.26+ (https://go.dev/doc/install)")
command -v gcc >/dev/null || missing+=("gcc (apt-get install gcc)")
command -v npm >/dev/null || missing+=("npm (apt-get install npm)")
if command -v gcc >/dev/null && ! printf '#include <stdio.h>\n#include <jpeglib.h>\n' | gcc -E -x c - >/dev/null 2>&1; then
  missing+=("libjpeg-turbo headers (apt-get install libjpeg-dev; Fedora: dnf install libjpeg-turbo-devel)")
fi
# Needed at run time for video sources, and by the tests; the build works
# without them, so they are reported only when asked (make test).
if [ "${1:-}" = "--test" ]; then
  command -v ffmpeg >/dev/null || missing+=("ffmpeg, for video files, network streams, webcams and their tests (apt-get install ffmpeg; macOS: brew install ffmpeg)")
  command -v ffprobe >/dev/null || missing+=("ffprobe (part of the ffmpeg package)")
  command -v kcat >/dev/null || missing+=("kcat, the independent Kafka client of the end-to-end tests (apt-get install kcat)")
  command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null ||
    missing+=("chromium, for the dashboard's browser tests (apt-get install chromium)")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "framecast needs, and this machine lacks:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
