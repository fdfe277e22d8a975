#!/usr/bin/env bash
# Builds the container image (`make image`): stages the binary, the
# healthcheck and the cache directory's run-time files in out/image, makes
# the local Debian base first when BASE is framecast-base:* and it does not
# exist, then runs `docker build` with the Dockerfile at the top of the
# repository.
#
#   IMAGE  the tag to build            (default framecast:latest)
#   BASE   the Debian image to build on (default framecast-base:RELEASE,
#          RELEASE being this machine's; debian:RELEASE-slim where a
#          registry is reachable)
#
# The binary must have been built on the same Debian release as BASE (it
# links glibc and libjpeg62-turbo dynamically); `make image` builds it and
# fetches the models first.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck disable=SC1091
release=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
IMAGE=${IMAGE:-framecast:latest}
BASE=${BASE:-framecast-base:$release}
home=${FRAMECAST_HOME:-$HOME/.cache/framecast}
ctx=out/image

if ! docker info >/dev/null 2>&1; then
	echo "image: no Docker engine answers (docker info failed): install docker.io and start dockerd" >&2
	exit 1
fi
case $BASE in
framecast-base:*) scripts/make-base-image.sh "${BASE#framecast-base:}" ;;
esac

need=(bin/framecast "$home/lib/libonnxruntime.so.1" "$home/models/blazeface.onnx" "$home/models/emotion.onnx" "$home/images/face-api/sample1.jpg")
for f in "${need[@]}"; do
	if [ ! -f "$f" ]; then
		echo "image: $f is missing: run make setup (or make image, which does)" >&2
		exit 1
	fi
done

rm -rf "$ctx"
mkdir -p "$ctx/home/lib" "$ctx/home/models" "$ctx/home/images/face-api"
cp bin/framecast "$ctx/framecast"
CGO_ENABLED=0 ${GO:-go} build -trimpath -ldflags "-s -w" -o "$ctx/healthcheck" ./tools/healthcheck
cp "$home/lib/libonnxruntime.so.1" "$ctx/home/lib/"
cp "$home/models/blazeface.onnx" "$home/models/emotion.onnx" "$ctx/home/models/"
[ ! -f "$home/models/LICENSE.human" ] || cp "$home/models/LICENSE.human" "$ctx/home/models/"
cp "$home"/images/face-api/*.jpg "$ctx/home/images/face-api/"
# Files readable by all, directories searchable: the image's user is not
# their owner.
chmod -R a+rX,go-w "$ctx"

# Docker's CLI without the buildx plugin uses the classic builder when asked;
# the Dockerfile works with both.
if ! docker buildx version >/dev/null 2>&1; then
	export DOCKER_BUILDKIT=0
fi
docker build --build-arg BASE="$BASE" -t "$IMAGE" -f Dockerfile "$ctx"
docker image ls "$IMAGE"
