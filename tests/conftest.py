"""Settings shared by the whole suite."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# No per-example deadline: on a loaded 2-core CI machine a slow example is not a bug, and
# a deadline would make property tests flaky. A failure prints the blob that replays it.
settings.register_profile(
    "raftredis", deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("raftredis")
