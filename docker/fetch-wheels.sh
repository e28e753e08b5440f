#!/usr/bin/env bash
# Fill docker/wheelhouse/ with the wheels the image needs, downloaded by the host's pip.
#
# For machines where the build container cannot reach PyPI (no network in `docker build`,
# or a TLS-intercepting proxy whose CA only the host trusts). When the wheelhouse holds
# wheels, docker/Dockerfile installs from it alone (pip --no-index); when it is empty the
# build uses PyPI directly, as usual.
#
# Usage: docker/fetch-wheels.sh [WHEELHOUSE]   (default: docker/wheelhouse next to this file)
# The wheels must match the image: CPython 3.11 on x86_64/aarch64 glibc (Debian bookworm or
# python:3.11-slim). Override the target with PIP_PLATFORM / PIP_PYTHON_VERSION if the host
# differs (e.g. PIP_PLATFORM=manylinux2014_x86_64).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="${1:-$here/wheelhouse}"
mkdir -p "$dest"

# The runtime dependencies come from pyproject.toml, so this list never drifts from it;
# setuptools and wheel build the raftredis wheel itself inside the image.
mapfile -t reqs < <(python3 - "$here/../pyproject.toml" <<'PY'
import sys
import tomllib

with open(sys.argv[1], "rb") as f:
    project = tomllib.load(f)
build = project["build-system"]["requires"]
for req in [*project["project"]["dependencies"], *build]:
    print(req)
PY
)

target=()
[[ -n "${PIP_PLATFORM:-}" ]] && target+=(--platform "$PIP_PLATFORM")
[[ -n "${PIP_PYTHON_VERSION:-}" || -n "${PIP_PLATFORM:-}" ]] \
    && target+=(--python-version "${PIP_PYTHON_VERSION:-3.11}")

echo "fetch-wheels: ${reqs[*]} -> $dest" >&2
timeout "${FETCH_TIMEOUT:-300}" python3 -m pip download --quiet --only-binary=:all: \
    --dest "$dest" "${target[@]}" "${reqs[@]}"
ls "$dest"/*.whl >&2
