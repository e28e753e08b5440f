"""ACL users on a real 3-node cluster: users made on the leader reach every node through
the log, so leader and followers (READONLY) refuse alike with Redis's exact NOPERM,
after a failover, after a restart from a snapshot, and after all nodes restart; no
password is ever written in clear to a node's files."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.integration.harness import Cluster, auth_ok, wait_for

READER_PW = "reader-secret-3141592"
APP_PW = "app-secret-2718281"
NOPERM_SET = "User reader has no permissions to run the 'set' command"
NOPERM_KEY = "No permissions to access a key"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("acl")).start()
    try:
        c.wait_leader()
        yield c
    finally:
        c.stop()


def client(c: Cluster, i: int, user: str | None = None, password: str | None = None,
           readonly: bool = False) -> redis.Redis:
    r = redis.Redis(port=c.nodes[i].port, username=user, password=password,
                    socket_timeout=15)
    if readonly:
        assert r.execute_command("READONLY")
    return r


def refusal(fn) -> str:
    with pytest.raises(redis.exceptions.NoPermissionError) as e:
        fn()
    return str(e.value)


def denied(fn) -> str:
    """The NOPERM text of a call, or "" if it was allowed."""
    try:
        fn()
    except redis.exceptions.NoPermissionError as e:
        return str(e)
    return ""


def authenticates(c: Cluster, i: int, user: str, password: str) -> bool:
    return auth_ok(c.nodes[i].port, user, password)


def check_node(c: Cluster, i: int, leader: bool) -> None:
    """The reader may read but not write; the app user only touches app:* keys."""
    reader = client(c, i, "reader", READER_PW, readonly=not leader)
    app = client(c, i, "app", APP_PW, readonly=not leader)
    try:
        assert refusal(lambda: reader.set("k", "v")) == NOPERM_SET
        assert refusal(lambda: reader.flushall()) == \
            "User reader has no permissions to run the 'flushall' command"
        wait_for(lambda: reader.get("app:1") == b"v1", 15, f"node{i} to read app:1")
        assert refusal(lambda: app.get("other")) == NOPERM_KEY
        assert app.get("app:1") == b"v1"
        if leader:
            assert app.set("app:2", "v2")
    finally:
        reader.close()
        app.close()


def check_everywhere(c: Cluster) -> int:
    lead = c.wait_leader()
    for i, node in c.nodes.items():
        if node.alive():
            wait_for(lambda i=i: authenticates(c, i, "reader", READER_PW), 20,
                     f"node{i} to know the reader")
            check_node(c, i, leader=i == lead)
    return lead


def no_clear_password(base: Path) -> None:
    for path in base.rglob("*"):
        if path.is_file() and not path.name.endswith(".log"):
            data = path.read_bytes()
            assert READER_PW.encode() not in data and APP_PW.encode() not in data, path


def test_users_are_the_same_on_every_node(cluster: Cluster) -> None:
    c = cluster
    lead = c.wait_leader()
    admin = client(c, lead)
    try:
        assert admin.execute_command("ACL", "SETUSER", "reader", "on", f">{READER_PW}", "~*",
                                     "&*", "+@read", "+readonly")
        assert admin.execute_command("ACL", "SETUSER", "app", "on", f">{APP_PW}", "~app:*",
                                     "+@all")
        assert admin.set("app:1", "v1")
        # A follower answers ACL SETUSER with a redirect: only the leader logs changes.
        f = next(i for i in c.nodes if i != lead)
        with pytest.raises(redis.exceptions.ResponseError) as moved:  # (redis-py drops "MOVED")
            client(c, f).execute_command("ACL", "SETUSER", "x")
        assert str(moved.value) == f"0 127.0.0.1:{c.nodes[lead].port}"
    finally:
        admin.close()
    check_everywhere(c)

    # A script runs as its user on every node: its calls are checked there.
    app = client(c, lead, "app", APP_PW)
    try:
        assert app.eval("return redis.call('set', 'app:script', 'v')", 0) in (b"OK", "OK")
        with pytest.raises(redis.exceptions.ResponseError) as e:
            app.eval("return redis.call('get', 'other')", 0)
        assert str(e.value).startswith("ACL failure in script: No permissions to access a key")
        # Inside MULTI too: the transaction's entry names the user.
        pipe = app.pipeline(transaction=True)
        pipe.set("app:multi", "v")
        pipe.eval("return redis.pcall('get', 'other')", 0)
        done, refused = pipe.execute(raise_on_error=False)
        assert done is True and str(refused).startswith("ACL failure in script: No perm")
    finally:
        app.close()
    for i in c.nodes:
        f = client(c, i, readonly=True)
        try:
            wait_for(lambda f=f: f.get("app:script") == b"v", 15, f"node{i} to apply the script")
        finally:
            f.close()

    # A follower connection authenticated as app sees app's rules change.
    f = next(i for i in c.nodes if i != lead)
    app = client(c, f, "app", APP_PW, readonly=True)
    try:
        assert app.get("app:1") == b"v1"
        assert client(c, lead).execute_command("ACL", "SETUSER", "app", "-get")
        wait_for(lambda: denied(lambda: app.get("app:1")).startswith("User app has no"), 15,
                 f"node{f} to apply app's new rules")
        assert client(c, lead).execute_command("ACL", "SETUSER", "app", "+get")
    finally:
        app.close()
    no_clear_password(c.base)


def test_users_survive_a_snapshot_a_failover_and_restarts(cluster: Cluster) -> None:
    c = cluster
    lead = c.wait_leader()
    admin = client(c, lead)
    try:
        assert admin.config_set("raft-snapshot-threshold", "25")
        acl_index = int(c.info(lead)["raft_commit_index"])
        for n in range(60):
            admin.incr("counter")
            if n == 30:
                admin.set("marker", "1")
    finally:
        admin.close()
    follower = next(i for i in c.nodes if i != lead)
    wait_for(lambda: int(c.info(follower)["raft_snapshot_index"]) > acl_index, 20,
             f"node{follower} to snapshot past the ACL entries")
    # Restarted from its snapshot: the users came back with it (their entries are
    # before the snapshot index, so they are not replayed).
    c.kill(follower)
    c.start_node(follower)
    check_everywhere(c)

    # Failover: the new leader refuses alike.
    c.kill(lead)
    new_lead = c.wait_leader(exclude=lead)
    assert new_lead != lead
    check_everywhere(c)
    c.start_node(lead)

    # Every node restarted at once.
    for i in c.nodes:
        c.kill(i)
    for i in c.nodes:
        c.start_node(i)
    check_everywhere(c)
    no_clear_password(c.base)

    # DELUSER reaches every node too.
    admin = client(c, c.wait_leader())
    try:
        assert admin.execute_command("ACL", "DELUSER", "app") == 1
    finally:
        admin.close()
    for i in c.nodes:
        wait_for(lambda i=i: not authenticates(c, i, "app", APP_PW), 15,
                 f"node{i} to forget app")


def test_requirepass_is_the_default_users_password_and_is_stored_hashed(
        cluster: Cluster) -> None:
    c = cluster
    password = "default-secret-1618033"
    hashed = "sha256:" + hashlib.sha256(password.encode()).hexdigest()
    lead = c.wait_leader()
    assert client(c, lead).config_set("requirepass", password)
    try:
        for i in c.nodes:
            # A nopass default user takes any password: the change is in once a wrong
            # one is refused (followers apply it when they learn its commit).
            wait_for(lambda i=i: not authenticates(c, i, "default", "not-" + password), 15,
                     f"node{i} to take the requirepass")
            assert authenticates(c, i, "default", password)
            r = client(c, i, password=password)
            try:
                # Stored and shown hashed; it is the default user's password (as Redis).
                assert r.config_get("requirepass") == {"requirepass": hashed}
                shown = r.acl_getuser("default")["passwords"]
                assert [p.decode() if isinstance(p, bytes) else p for p in shown] == \
                    [hashed.removeprefix("sha256:")]
            finally:
                r.close()
        for path in c.base.rglob("*"):
            if path.is_file() and not path.name.endswith(".log"):
                assert password.encode() not in path.read_bytes(), path
    finally:
        client(c, lead, password=password).config_set("requirepass", "")
