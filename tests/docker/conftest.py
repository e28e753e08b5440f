"""Fixtures for the docker tests: images built once per session, a fresh compose
project per test, torn down (containers, networks, volumes) whatever happens."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import pytest

from tests.docker import harness


@pytest.fixture(scope="session")
def docker_images(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Check the engine, make the base image (cached) and build the app image;
    returns the base image name."""
    problem = harness.engine_problem()
    if problem:
        pytest.skip(f"docker tests skipped: {problem}")
    start = time.monotonic()
    base = harness.ensure_base_image()
    base_s = time.monotonic() - start
    build_s = harness.build_image(base, tmp_path_factory.mktemp("docker-build"))
    print(f"\ndocker: base image {base} ready in {base_s:.1f}s, "
          f"app image {harness.IMAGE} built in {build_s:.1f}s", file=sys.stderr)
    return base


@pytest.fixture
def cluster(docker_images: str, request: pytest.FixtureRequest) -> Iterator[harness.Cluster]:
    c = harness.Cluster.create(docker_images)
    try:
        c.up()
        yield c
    finally:
        # Logs go to captured output, shown by pytest only when the test failed.
        print(f"--- compose logs of {c.project} ---\n{c.logs()}")
        problems = c.down()
        if problems:
            print(f"teardown of {c.project}: {problems}", file=sys.stderr)

