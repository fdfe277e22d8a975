#!/usr/bin/env bash
# Makes a Debian base image without a container registry: mmdebstrap builds
# a minimal root file system from Debian's archive and `docker import` turns
# it into the image framecast-base:RELEASE, which the Dockerfile takes as
# --build-arg BASE. Where a registry is reachable, debian:RELEASE-slim does
# the same job and this script is not needed.
#
#   scripts/make-base-image.sh [RELEASE]    # default: this machine's release
#
# Idempotent: an existing framecast-base:RELEASE is kept (remove it with
# `docker image rm` to rebuild). Needs mmdebstrap (apt-get install
# mmdebstrap) and root, or unprivileged user namespaces for another user
# (mmdebstrap's unshare mode). MIRROR and SECURITY_MIRROR override the Debian
# mirrors (default: deb.debian.org).
set -euo pipefail

release=${1:-}
if [ -z "$release" ]; then
	# shellcheck disable=SC1091
	release=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
fi
if [ -z "$release" ]; then
	echo "make-base-image: no Debian release given and none in /etc/os-release; pass one, e.g. bookworm" >&2
	exit 2
fi
image="framecast-base:$release"
mirror=${MIRROR:-http://deb.debian.org/debian}
security=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}

if docker image inspect "$image" >/dev/null 2>&1; then
	echo "make-base-image: $image exists"
	exit 0
fi
if ! command -v mmdebstrap >/dev/null; then
	echo "make-base-image: mmdebstrap is missing: apt-get install mmdebstrap (or build with a public base: make image BASE=debian:$release-slim)" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# minbase: essential packages plus apt, so the Dockerfile can install the
# run-time libraries; the sources include updates and security, as
# debian:RELEASE-slim's do. Documentation, man pages and locales are left
# out (dpkg excludes them for later installs too), and the apt lists are
# dropped, like in the official slim images.
mode=root
[ "$(id -u)" = 0 ] || mode=unshare
mmdebstrap --mode="$mode" --variant=minbase --format=tar \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
	"$release" "$tmp/rootfs.tar" \
	"deb $mirror $release main" \
	"deb $mirror $release-updates main" \
	"deb $security $release-security main"
docker import \
	--change 'CMD ["bash"]' \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--message "mmdebstrap --variant=minbase $release" \
	"$tmp/rootfs.tar" "$image" >/dev/null
echo "make-base-image: made $image ($(docker image inspect --format '{{.Size}}' "$image") bytes)"
