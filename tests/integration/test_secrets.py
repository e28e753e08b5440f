"""Where the cluster secret may come from, and what is refused (issue 17, item 4)."""

from __future__ import annotations

import argparse
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raftredis import config
from raftredis.miniclient import call

PEERS = "1=127.0.0.1:17000,2=127.0.0.1:17001,3=127.0.0.1:17002"


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    config.add_arguments(p)
    return p.parse_args(argv)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(config.ConfigError, match="at least 16 bytes"):
        config.load(_parse(["--peers", PEERS]), environ={"RAFTREDIS_SECRET": "short"})


def test_no_secret_with_peers_is_refused() -> None:
    with pytest.raises(config.ConfigError, match="secret is required"):
        config.load(_parse(["--peers", PEERS]), environ={})


def test_the_secret_from_a_file(tmp_path: Path) -> None:
    f = tmp_path / "cluster.secret"
    f.write_text("0123456789abcdef0123\n")
    cfg = config.load(_parse(["--peers", PEERS, "--secret-file", str(f)]), environ={})
    assert cfg.secret == "0123456789abcdef0123"
    with pytest.raises(config.ConfigError, match="secret_file"):
        config.load(_parse(["--peers", PEERS, "--secret-file", str(tmp_path / "none")]),
                    environ={})
    with pytest.raises(config.ConfigError, match="once"):
        config.load(_parse(["--peers", PEERS, "--secret-file", str(f)]),
                    environ={"RAFTREDIS_SECRET": "0123456789abcdef-other"})


def test_a_secret_in_argv_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    config.load(_parse(["--peers", PEERS, "--secret", "0123456789abcdef0123"]), environ={})
    assert "command line" in caplog.text


def test_the_example_configs_carry_no_secret() -> None:
    for path in Path("conf").glob("*.toml"):
        text = path.read_text()
        assert "\nsecret =" not in text and "change-me" not in text, path


def test_cluster_children_get_the_secret_outside_argv_and_data_is_private(
        tmp_path: Path) -> None:
    """`raftredis cluster`: no child has the secret on its command line; data files are
    0600 and directories 0700."""
    from tests.integration.harness import free_base

    port = free_base(1)
    data = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-m", "raftredis", "cluster", "--nodes", "1",
                             "--port", str(port), "--data-dir", str(data)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if call("127.0.0.1", port, "SET", "a", "b", timeout=1) in (b"OK", "OK"):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the one-node cluster did not serve"
            time.sleep(0.05)
        secret = (data / "cluster.secret").read_text().strip()
        children = subprocess.run(["pgrep", "-P", str(proc.pid), "-a"], capture_output=True,
                                  text=True).stdout
        assert "raftredis serve" in children  # the node's own command line
        assert secret not in children
        node_dir = data / "node1"
        assert stat.S_IMODE(node_dir.stat().st_mode) == 0o700
        for p in node_dir.rglob("*"):
            want = 0o700 if p.is_dir() else 0o600
            assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, (p, oct(p.stat().st_mode))
            assert stat.S_IMODE(p.stat().st_mode) & want == stat.S_IMODE(p.stat().st_mode)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)
