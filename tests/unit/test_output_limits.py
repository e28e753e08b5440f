"""client-output-buffer-limit as a setting (Redis 7's syntax, validation and texts,
checked against redis-server by tests/integration/test_resp_differential.py), flow
control's pause reasons, and maxclients fitted to the file-descriptor limit."""

from __future__ import annotations

import logging
import resource

import pytest

from raftredis.server.flow import FlowControl
from raftredis.server.resp_server import RESERVED_FDS, fit_maxclients
from raftredis.server.settings import (
    DEFAULT_OUTPUT_BUFFER_LIMITS,
    ConfigError,
    OutputBufferLimit,
    ServerSettings,
)

NAME = b"client-output-buffer-limit"
DEFAULT = b"normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"


def get(s: ServerSettings) -> bytes:
    ((name, value),) = s.config_get([NAME])
    assert name == NAME
    return value


def set_(s: ServerSettings, value: bytes) -> str:
    try:
        s.config_set([(NAME, value)])
    except ConfigError as e:
        return str(e)
    return "OK"


def test_default_is_redis_default() -> None:
    s = ServerSettings()
    assert get(s) == DEFAULT
    assert s[NAME.decode()] == DEFAULT_OUTPUT_BUFFER_LIMITS
    assert not s[NAME.decode()]["normal"].limited


def test_set_changes_only_the_classes_named_and_keeps_units_as_redis() -> None:
    s = ServerSettings()
    steps = [
        (b"normal 1mb 512kb 10",
         b"normal 1048576 524288 10 slave 268435456 67108864 60 pubsub 33554432 8388608 60"),
        (b"pubsub 1m 2k 0",
         b"normal 1048576 524288 10 slave 268435456 67108864 60 pubsub 1000000 2000 0"),
        (b"replica 1 2 3", b"normal 1048576 524288 10 slave 1 2 3 pubsub 1000000 2000 0"),
        (b"SLAVE 5gb 1gb 100",
         b"normal 1048576 524288 10 slave 5368709120 1073741824 100 pubsub 1000000 2000 0"),
        (b"normal 1 2 3 normal 4 5 6",
         b"normal 4 5 6 slave 5368709120 1073741824 100 pubsub 1000000 2000 0"),
        (b"", b"normal 4 5 6 slave 5368709120 1073741824 100 pubsub 1000000 2000 0"),
        (b"normal 1 100 0",  # soft above hard is allowed, as in Redis
         b"normal 1 100 0 slave 5368709120 1073741824 100 pubsub 1000000 2000 0"),
    ]
    for value, shown in steps:
        assert set_(s, value) == "OK"
        assert get(s) == shown, value
    assert s[NAME.decode()]["normal"] == OutputBufferLimit(1, 100, 0)


PREFIX = "ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - "


@pytest.mark.parametrize(("value", "why"), [
    (b"master 1 1 1", "Invalid client class specified in buffer limit configuration."),
    (b"foo 1 2 3", "Invalid client class specified in buffer limit configuration."),
    (b"normal 1 2", "Wrong number of arguments in buffer limit configuration."),
    (b"normal x 2 3", "Error in hard, soft or soft_seconds setting in buffer limit "
                      "configuration."),
    (b"normal 1 -2 3", "Error in hard, soft or soft_seconds setting in buffer limit "
                       "configuration."),
    (b"normal 1.5mb 0 0", "Error in hard, soft or soft_seconds setting in buffer limit "
                          "configuration."),
    (b"normal 1 1 1 bogus 1 1 1", "Invalid client class specified in buffer limit "
                                  "configuration."),
])
def test_bad_values_are_refused_whole_with_redis_text(value: bytes, why: str) -> None:
    s = ServerSettings()
    assert set_(s, value) == PREFIX + why
    assert get(s) == DEFAULT  # all or nothing


def test_validate_is_what_the_log_applies() -> None:
    # The node validates on the leader and again when every node applies the entry.
    s = ServerSettings()
    ((name, parsed),) = s.validate([(NAME, b"normal 10mb 5mb 30")])
    assert get(s) == DEFAULT  # validate changes nothing
    seen: list[tuple[str, object]] = []
    s.on_change(lambda n, v: seen.append((n, v)))
    s.set_value(name, parsed)
    assert seen == [(name, parsed)]
    assert get(s).startswith(b"normal 10485760 5242880 30 slave")


# -- flow control -----------------------------------------------------------------------


class FakeTransport:
    def __init__(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


def test_reading_stays_paused_while_any_reason_holds() -> None:
    t = FakeTransport()
    f = FlowControl(t, pending_high=4, pending_low=1)  # type: ignore[arg-type]
    f.pause_writing()
    f.set_backlog(True)
    f.pending_changed(5)
    assert not t.reading and f.pauses == 1
    f.resume_writing()
    assert not t.reading
    f.set_backlog(False)
    assert not t.reading
    f.pending_changed(3)  # between the marks: still too many
    assert not t.reading
    f.pending_changed(1)
    assert t.reading


# -- maxclients and the descriptor limit ----------------------------------------------------


class Limits:
    def __init__(self, soft: int, hard: int, settable: bool = True) -> None:
        self.soft, self.hard, self.settable = soft, hard, settable
        self.calls: list[tuple[int, int]] = []

    def get(self, which: int) -> tuple[int, int]:
        assert which == resource.RLIMIT_NOFILE
        return self.soft, self.hard

    def set(self, which: int, value: tuple[int, int]) -> None:
        self.calls.append(value)
        if not self.settable:
            raise PermissionError(1, "Operation not permitted")
        self.soft = value[0]


def test_enough_descriptors_changes_nothing() -> None:
    lim = Limits(20000, 20000)
    assert fit_maxclients(10000, lim.get, lim.set) == 10000
    assert lim.calls == []


def test_soft_limit_is_raised_when_the_hard_limit_allows(caplog) -> None:
    lim = Limits(1024, 65536)
    with caplog.at_level(logging.INFO, logger="raftredis.server.resp_server"):
        assert fit_maxclients(10000, lim.get, lim.set) == 10000
    assert lim.calls == [(10000 + RESERVED_FDS, 65536)]  # the hard limit is left alone
    assert "Increased maximum number of open files to 10032 (it was originally set to " \
           "1024)." in caplog.text


def test_maxclients_is_clamped_below_the_hard_limit(caplog) -> None:
    lim = Limits(1024, 4096)
    with caplog.at_level(logging.WARNING, logger="raftredis.server.resp_server"):
        assert fit_maxclients(10000, lim.get, lim.set) == 4096 - RESERVED_FDS
    assert lim.soft == 4096  # raised as far as allowed first
    assert "You requested maxclients of 10000 requiring at least 10032 max file " \
           "descriptors." in caplog.text
    assert "Server can't set maximum open files to 10032 because the hard limit is 4096." \
        in caplog.text
    assert "Current maximum open files is 4096. maxclients has been reduced to 4064 to " \
           "compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'." \
        in caplog.text


def test_a_refused_raise_says_the_os_error(caplog) -> None:
    lim = Limits(1024, 4096, settable=False)
    with caplog.at_level(logging.WARNING, logger="raftredis.server.resp_server"):
        assert fit_maxclients(10000, lim.get, lim.set) == 1024 - RESERVED_FDS
    assert "because of OS error: Operation not permitted." in caplog.text


def test_server_shows_the_fitted_value_and_refits_on_config_set(monkeypatch) -> None:
    import raftredis.server.resp_server as rs
    from raftredis.server.local_backend import LocalBackend

    lim = Limits(1024, 2048)
    monkeypatch.setattr(rs, "fit_maxclients",
                        lambda n: fit_maxclients(n, lim.get, lim.set))
    settings = ServerSettings(maxclients=5000)
    rs.RespServer(LocalBackend(), settings)
    assert settings["maxclients"] == 2048 - RESERVED_FDS
    settings.config_set([(b"maxclients", b"100")])
    assert settings["maxclients"] == 100
    settings.config_set([(b"maxclients", b"3000")])  # as the log applies it on each node
    assert settings["maxclients"] == 2048 - RESERVED_FDS
    assert settings.config_get([b"maxclients"]) == [(b"maxclients", b"2016")]
