#!/usr/bin/env bash
# Build a local Python base image for raftredis without pulling from any registry.
#
# Where `docker pull python:3.11-slim` is impossible (no registry access), this makes
# an equivalent base once: a minimal Debian bookworm root (Python 3.11) made by
# debootstrap from Debian's own package mirror, turned into an image by `docker import`.
# Pass it to the build:  docker build --build-arg BASE_IMAGE=raftredis-base:bookworm ...
#
# Idempotent and cached: does nothing if the image already exists (FORCE=1 rebuilds).
# Needs root (debootstrap) and a reachable Debian mirror. Bounded in time.
#
# Usage: docker/make-base-image.sh [IMAGE]
#   IMAGE            default: $RAFTREDIS_BASE_IMAGE or raftredis-base:bookworm
#   DEBIAN_MIRROR    default: http://deb.debian.org/debian
#   BASE_TIMEOUT     seconds allowed for debootstrap, default 900
set -euo pipefail

IMAGE="${1:-${RAFTREDIS_BASE_IMAGE:-raftredis-base:bookworm}}"
SUITE=bookworm
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
BASE_TIMEOUT="${BASE_TIMEOUT:-900}"
# python3-venv brings ensurepip (the Dockerfile installs into a venv, as on python:slim);
# ca-certificates lets pip inside the build reach PyPI over TLS.
PACKAGES=python3,python3-venv,ca-certificates

say() { echo "make-base-image: $*" >&2; }

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

if [[ "${FORCE:-0}" != 1 ]] && have_image "$IMAGE"; then
    say "image $IMAGE already exists, nothing to do (FORCE=1 to rebuild)"
    exit 0
fi

if [[ "$(id -u)" != 0 ]]; then
    say "debootstrap needs root; run this script as root (or with sudo)"
    exit 2
fi
for tool in debootstrap docker tar flock timeout; do
    command -v "$tool" >/dev/null || { say "missing tool: $tool"; exit 2; }
done

# One builder at a time: concurrent test runs wait for the first one, then find the image.
LOCK="${TMPDIR:-/tmp}/raftredis-make-base-image.lock"
exec 9>"$LOCK"
say "waiting for lock $LOCK"
flock -w "$BASE_TIMEOUT" 9 || { say "timed out waiting for $LOCK"; exit 3; }
if [[ "${FORCE:-0}" != 1 ]] && have_image "$IMAGE"; then
    say "image $IMAGE was built meanwhile, nothing to do"
    exit 0
fi

ROOT="$(mktemp -d "${TMPDIR:-/tmp}/raftredis-rootfs.XXXXXX")"
cleanup() { rm -rf --one-file-system "$ROOT"; }
trap cleanup EXIT

start=$SECONDS
say "debootstrap --variant=minbase $SUITE from $MIRROR with $PACKAGES into $ROOT"
timeout "$BASE_TIMEOUT" debootstrap --variant=minbase --include="$PACKAGES" \
    "$SUITE" "$ROOT" "$MIRROR" >&2

# Keep the image small: downloaded .debs and package lists are not needed at run time.
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* "$ROOT"/tmp/*
# A sources.list so `apt-get update` works in images built on top of this one.
echo "deb $MIRROR $SUITE main" >"$ROOT/etc/apt/sources.list"
"$ROOT/usr/bin/python3" --version >/dev/null 2>&1 || true

say "docker import as $IMAGE"
tar --numeric-owner -C "$ROOT" -c . | timeout 300 docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    --message "debian $SUITE minbase + $PACKAGES (raftredis docker/make-base-image.sh)" \
    - "$IMAGE" >&2

say "built $IMAGE in $((SECONDS - start))s"
docker run --rm "$IMAGE" python3 --version >&2
