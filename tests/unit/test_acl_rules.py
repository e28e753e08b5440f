"""ACL rules, the permission check, the user table's log operations and snapshot, and
the ACL LOG, without a server."""

from __future__ import annotations

import io
import shlex

import pytest

from raftredis.acl import UserTable, hash_password
from raftredis.acl.check import DENIED_CHANNEL, DENIED_CMD, DENIED_KEY, check
from raftredis.acl.log import AclLog
from raftredis.acl.table import hashed_rules, merge_selectors
from raftredis.commands import lookup
from raftredis.reply import OK, CommandError, Error
from raftredis.server.acl_guard import key_access
from raftredis.statemachine import StateMachine


def described(rules: str) -> str:
    t = UserTable()
    t.setuser(b"t", [r.encode() for r in shlex.split(rules)])
    return t.get(b"t").describe().decode()


@pytest.mark.parametrize(("rules", "want"), [
    ("", "off resetchannels -@all"),
    ("-get +get", "off resetchannels -@all +get"),
    ("+get +set +get", "off resetchannels -@all +set +get"),
    ("+@all -@write +set", "off resetchannels +@all -@write +set"),
    ("+@all -@write +set allcommands", "off resetchannels +@all"),
    ("+get nocommands +set", "off resetchannels -@all +set"),
    ("+config|get +config", "off resetchannels -@all +config"),
    ("+@all -config|get", "off resetchannels +@all -config|get"),
    ("+select|0", "off resetchannels -@all +select|0"),
    ("~a ~b allkeys", "off ~* resetchannels -@all"),
    ("resetkeys ~a ~a", "off ~a resetchannels -@all"),
    ("%R~a %W~a %RW~b %R~c", "off ~a ~b %R~c resetchannels -@all"),
    ("&a &b allchannels", "off &* -@all"),
    ("resetchannels &x", "off resetchannels &x -@all"),
    ("on off", "off resetchannels -@all"),
    (">p <p", "off resetchannels -@all"),
    (">x nopass", "off nopass resetchannels -@all"),
    ("nopass >x", "off #" + hash_password(b"x") + " resetchannels -@all"),
    ("reset", "off sanitize-payload resetchannels -@all"),
    ("(~a +get)", "off resetchannels -@all (~a resetchannels -@all +get)"),
    ("(~a +get) clearselectors", "off resetchannels -@all"),
])
def test_rules_are_described_as_redis_does(rules: str, want: str) -> None:
    assert described(rules) == want


@pytest.mark.parametrize(("rule", "reason"), [
    ("+@foo", "Unknown command or category name in ACL"),
    ("+nope", "Unknown command or category name in ACL"),
    ("+config|nope", "Unknown command or category name in ACL"),
    ("-select|0", "Unknown command or category name in ACL"),
    ("+config|get|x", "Allowing first-arg of a subcommand is not supported"),
    ("%X~c", "Syntax error"),
    ("%~a", "Syntax error"),
    ("badrule", "Syntax error"),
    ("<q", "The password you are trying to remove from the user does not exist"),
    ("#abc", "The password hash must be exactly 64 characters and contain only lowercase "
             "hexadecimal characters"),
])
def test_refused_rules_say_why_and_change_nothing(rule: str, reason: str) -> None:
    t = UserTable()
    t.setuser(b"t", [b"on", b"+get"])
    with pytest.raises(CommandError) as e:
        t.setuser(b"t", [b"+set", rule.encode()])
    assert e.value.message == f"ERR Error in ACL SETUSER modifier '{rule}': {reason}"
    assert t.get(b"t").describe() == b"on resetchannels -@all +get"  # +set not applied


def test_patterns_after_a_star_are_refused() -> None:
    t = UserTable()
    with pytest.raises(CommandError, match="'~a': Adding a pattern after the"):
        t.setuser(b"t", [b"allkeys", b"~a"])
    with pytest.raises(CommandError, match="'&x': Adding a pattern after the"):
        t.setuser(b"t", [b"allchannels", b"&x"])
    with pytest.raises(CommandError, match="Usernames can't contain spaces"):
        t.setuser(b"a b", [])
    with pytest.raises(CommandError, match=r"Unmatched parenthesis in acl selector starting "
                                           r"at '\(~a'\."):
        t.setuser(b"t", [b"(~a", b"+get"])
    assert merge_selectors([b"on", b"(~a", b"+get)", b"+set"]) == [b"on", b"(~a +get)", b"+set"]


def denial(rules: str, *line: bytes):
    t = UserTable()
    user = t.setuser(b"u", [r.encode() for r in shlex.split(rules)])
    spec = lookup(line[0])
    if spec.subcommands:
        spec = next(s for s in spec.subcommands if s.name.endswith(line[1].decode().lower()))
    d = check(user, spec, list(line), key_access)
    return None if d is None else (d.reason, d.obj)


def test_read_only_user_cannot_write() -> None:
    rules = "on ~* &* +@read"
    assert denial(rules, b"GET", b"k") is None
    assert denial(rules, b"SET", b"k", b"v") == (DENIED_CMD, b"")
    assert denial(rules, b"CONFIG", b"GET", b"x") == (DENIED_CMD, b"")
    assert denial(rules, b"AUTH", b"x") is None  # no_auth commands are always allowed


def test_key_patterns_and_their_access() -> None:
    rules = "on +@all ~app:* %R~ro:* %W~wo:*"
    assert denial(rules, b"SET", b"app:1", b"v") is None
    assert denial(rules, b"GET", b"other") == (DENIED_KEY, b"other")
    assert denial(rules, b"GET", b"ro:1") is None
    assert denial(rules, b"SET", b"ro:1", b"v") == (DENIED_KEY, b"ro:1")
    assert denial(rules, b"SET", b"wo:1", b"v") is None  # SET only writes its key
    assert denial(rules, b"GET", b"wo:1") == (DENIED_KEY, b"wo:1")
    assert denial(rules, b"MSET", b"app:1", b"v", b"x", b"v") == (DENIED_KEY, b"x")
    assert denial(rules, b"PING") is None


def test_channels_literal_for_psubscribe() -> None:
    rules = "on +@all ~* resetchannels &news.* &exact"
    assert denial(rules, b"PUBLISH", b"news.a", b"m") is None
    assert denial(rules, b"PUBLISH", b"sport", b"m") == (DENIED_CHANNEL, b"sport")
    assert denial(rules, b"SUBSCRIBE", b"exact", b"other") == (DENIED_CHANNEL, b"other")
    assert denial(rules, b"PSUBSCRIBE", b"news.*") is None
    assert denial(rules, b"PSUBSCRIBE", b"news.a") == (DENIED_CHANNEL, b"news.a")


def test_first_args_and_subcommands() -> None:
    assert denial("on -@all +select|0", b"SELECT", b"0") is None
    assert denial("on -@all +select|0", b"SELECT", b"1") == (DENIED_CMD, b"")
    assert denial("on +@all -config +config|get", b"CONFIG", b"GET", b"x") is None
    assert denial("on +@all -config +config|get", b"CONFIG", b"SET", b"x", b"y") == \
        (DENIED_CMD, b"")


def test_any_selector_may_allow() -> None:
    rules = "on +get ~a (+set ~b)"
    assert denial(rules, b"GET", b"a") is None
    assert denial(rules, b"SET", b"b", b"v") is None
    assert denial(rules, b"SET", b"a", b"v") == (DENIED_KEY, b"a")  # the key refusal wins
    assert denial(rules, b"DEL", b"a") == (DENIED_CMD, b"")


def test_the_log_carries_hashes_only() -> None:
    ops = hashed_rules([b"on", b">s3cret-password", b"<old-password", b"~*"])
    assert ops == [b"on", b"#" + hash_password(b"s3cret-password").encode(),
                   b"!" + hash_password(b"old-password").encode(), b"~*"]
    assert not any(b"s3cret" in op for op in ops)


def test_table_ops_snapshot_and_requirepass() -> None:
    sm = StateMachine()
    assert sm.apply_acl([b"setuser", b"alice", b"on", b"#" + b"a" * 64, b"+@read",
                         b"~app:*"]) is OK
    assert isinstance(sm.apply_acl([b"deluser", b"default"]), Error)
    sm.acl.take_requirepass("pw")
    assert sm.acl.default.password_ok(b"pw") and not sm.acl.default.password_ok(b"x")
    buf = io.BytesIO()
    sm.write_snapshot(buf)
    assert b"pw" not in buf.getvalue().replace(b"passwords", b"")  # (hashes only)
    buf.seek(0)
    other = StateMachine()
    other.restore_snapshot(buf)
    assert other.acl.names() == [b"alice", b"default"]
    assert other.acl.get(b"alice").describe() == sm.acl.get(b"alice").describe()
    assert other.acl.default.password_ok(b"pw")
    # The same requirepass again (a restart) does not undo rules set on the default user.
    other.acl.setuser(b"default", [b">extra"])
    other.acl.take_requirepass("pw")
    assert other.acl.default.password_ok(b"extra")
    other.acl.take_requirepass("")
    assert other.acl.default.nopass
    assert other.apply_acl([b"deluser", b"alice", b"nobody"]) == 1


def test_deleted_and_changed_users_are_announced() -> None:
    t = UserTable()
    heard: list[tuple[bytes, bool]] = []
    t.listen(lambda u, deleted: heard.append((u.name, deleted)))
    held = t.setuser(b"bob", [b"on"])
    t.setuser(b"bob", [b"+get"])
    assert t.get(b"bob") is held  # connections keep the same object
    t.deluser([b"bob"])
    assert heard == [(b"bob", False), (b"bob", False), (b"bob", True)]


def test_acl_log_groups_and_is_bounded() -> None:
    log = AclLog()
    for i in range(3):
        log.add("command", "toplevel", b"set", b"ro", b"info%d" % i, 1000 + i, 128)
    assert len(log.entries) == 1 and log.entries[0].count == 3
    assert log.entries[0].client_info == b"info2"
    log.add("command", "toplevel", b"set", b"ro", b"late", 1000 + 61_000, 128)
    assert len(log.entries) == 2  # more than 60 s later: a new entry
    for i in range(10):
        log.add("key", "toplevel", b"k%d" % i, b"ro", b"", 5000, 4)
    assert [e.obj for e in log.entries] == [b"k9", b"k8", b"k7", b"k6"]
    shown = log.show(2, 6000)
    assert [m[b"object"] for m in shown] == [b"k9", b"k8"]
    assert shown[0][b"age-seconds"] == 1.0


def test_a_session_is_no_way_around_the_rules() -> None:
    from raftredis.server.acl_guard import check_line

    user = UserTable().setuser(b"u", [b"on", b"+@all", b"-flushall", b"~app:*"])
    spec, d = check_line(user, lookup(b"SESSION.EXEC"), [b"SESSION.EXEC", b"1", b"1",
                                                         b"FLUSHALL"])
    assert spec.name == "flushall" and d is not None and d.reason == DENIED_CMD
    _, d = check_line(user, lookup(b"SESSION.EXEC"), [b"SESSION.EXEC", b"1", b"1", b"SET",
                                                      b"x", b"v"])
    assert d is not None and (d.reason, d.obj) == (DENIED_KEY, b"x")
    _, d = check_line(user, lookup(b"SESSION.EXEC"), [b"SESSION.EXEC", b"1", b"1", b"SET",
                                                      b"app:1", b"v"])
    assert d is None


def test_a_script_runs_as_its_user() -> None:
    sm = StateMachine()
    assert sm.apply_acl([b"setuser", b"sc", b"on", b"nopass", b"~app:*", b"&*", b"+@all",
                         b"-del"]) is OK
    ok = sm.apply_as(b"sc", [b"EVAL", b"return redis.call('set', 'app:1', 'v')", b"0"], 1000)
    assert ok == b"OK" or str(ok) == "OK"
    refused = sm.apply_as(b"sc", [b"EVAL", b"return redis.pcall('del', 'app:1')", b"0"], 1000)
    assert refused == "ERR ACL failure in script: User sc has no permissions to run the 'del' " \
                      "command"
    refused = sm.apply_as(b"sc", [b"EVAL", b"return redis.pcall('get', 'other')", b"0"], 1000)
    assert refused == "ERR ACL failure in script: No permissions to access a key"
    # The same script run by nobody in particular (the default user) is not checked.
    assert sm.apply([b"EVAL", b"return redis.pcall('del', 'app:1')", b"0"], 1000) == 1
    assert isinstance(sm.apply_as(b"gone", [b"EVAL", b"return 1", b"0"], 1000), Error)


def test_dangerous_commands_are_categorised() -> None:
    """-@dangerous keeps a user from emptying the store, changing settings or the
    membership (CLUSTER FORGET / JOIN / PROMOTE ...), and -@admin likewise."""
    for rules in ("on ~* &* +@all -@dangerous", "on ~* &* +@all -@admin"):
        for line in ([b"FLUSHALL"], [b"CONFIG", b"SET", b"maxclients", b"1"],
                     [b"CLUSTER", b"FORGET", b"2"], [b"CLUSTER", b"PROMOTE", b"2"],
                     [b"CLUSTER", b"JOIN", b"4", b"h:1", b"h:2"], [b"ACL", b"SETUSER", b"x"]):
            if rules.endswith("-@admin") and line[0] == b"FLUSHALL":
                continue  # (FLUSHALL is @keyspace @write @slow @dangerous, not @admin)
            assert denial(rules, *line) == (DENIED_CMD, b""), (rules, line)
        assert denial(rules, b"CLUSTER", b"SLOTS") is None
        assert denial(rules, b"GET", b"k") is None


def test_scripts_in_a_transaction_and_a_session_run_as_their_user() -> None:
    sm = StateMachine()
    sm.apply_acl([b"setuser", b"sc", b"on", b"nopass", b"~*", b"&*", b"+@all", b"-del"])
    script = b"return redis.pcall('del', 'k')"
    replies = sm.apply_multi_as(b"sc", [[b"SET", b"k", b"v"], [b"EVAL", script, b"0"]], 1000)
    assert replies[1] == "ERR ACL failure in script: User sc has no permissions to run the " \
                         "'del' command"
    session = sm.apply([b"SESSION.OPEN"], 1000)
    refused = sm.apply_as(b"sc", [b"SESSION.EXEC", b"%d" % session, b"1", b"EVAL", script,
                                  b"0"], 1000)
    assert str(refused).startswith("ERR ACL failure in script: User sc has no permissions")
