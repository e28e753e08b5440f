"""Every `raftredis serve` flag says what it does and its default; config errors name the
setting, the value and what is allowed."""

from __future__ import annotations

import argparse

import pytest

from raftredis import config
from raftredis.cli import build_parser


def _serve_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["serve"]


def test_every_serve_flag_has_real_help() -> None:
    actions = [a for a in _serve_parser()._actions if a.option_strings and a.dest != "help"]
    assert len(actions) == len(config._FIELDS) + 1  # + --config
    for action in actions:
        text = action.help or ""
        assert "[default: " in text, action.option_strings
        what = text.split("[default:")[0].strip()
        assert len(what) >= 15 and "undocumented" not in what, (action.option_strings, text)


def test_every_setting_is_documented_and_no_stale_entries() -> None:
    names = {f.name for f in config._FIELDS}
    assert names - set(config.HELP) == set(), "settings without a help text"
    assert set(config.HELP) - names == set(), "help texts of settings that do not exist"


@pytest.mark.parametrize("flag", ["tick_ms", "cluster_down_wait_ms", "stall_limit_ms",
                                  "active_expire_ms", "timeout", "lfu_decay_time"])
def test_time_settings_name_their_unit(flag: str) -> None:
    assert any(u in config.HELP[flag] for u in ("millisecond", "seconds", "minutes")), flag


def test_help_renders_the_default_and_env() -> None:
    text = _serve_parser().format_help()
    assert "RAFTREDIS_METRICS_PORT" in text
    assert "[default: 0; env RAFTREDIS_METRICS_PORT]" in " ".join(text.split())


@pytest.mark.parametrize(("env", "name", "value", "allowed"), [
    ({"RAFTREDIS_FSYNC": "sometimes"}, "fsync", "sometimes", "always, everysec, no"),
    ({"RAFTREDIS_PORT": "70000"}, "port", "70000", "0-65535"),
    ({"RAFTREDIS_TICK_MS": "zero"}, "tick_ms", "zero", "an integer"),
    ({"RAFTREDIS_HEARTBEAT_TICKS": "20"}, "heartbeat_ticks", "20", "fewer than election_ticks"),
    ({"RAFTREDIS_LOG_FORMAT": "xml"}, "log_format", "xml", "text, json"),
    ({"RAFTREDIS_METRICS_PORT": "7000"}, "metrics_port", "7000", "other than the client port"),
    ({"RAFTREDIS_ENABLE_DEBUG_COMMAND": "maybe"}, "enable_debug_command", "maybe",
     "no, yes, local"),
])
def test_config_errors_name_setting_value_and_allowed(env: dict, name: str, value: str,
                                                      allowed: str) -> None:
    with pytest.raises(config.ConfigError) as err:
        config.load(environ=env)
    text = str(err.value)
    assert name in text and value in text and allowed in text, text
    assert "--" + name.replace("_", "-") in text, text


@pytest.mark.parametrize(("flags", "expected"), [
    (["--maxmemory-policy", "foo"], "setting maxmemory_policy (--maxmemory-policy): 'foo' "
                                    "is not allowed; argument(s) must be one of the following"),
    (["--maxmemory", "12zb"], "setting maxmemory (--maxmemory): '12zb' is not allowed"),
    (["--peers", "1=a:b"], "setting peers (--peers): bad peer '1=a:b'"),
])
def test_serve_refuses_bad_values_before_starting(flags: list[str], expected: str,
                                                  tmp_path, capsys) -> None:
    from raftredis.cli import main

    assert main(["serve", "--data-dir", str(tmp_path / "d"), *flags]) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "d").exists()  # refused before anything was made


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@pytest.mark.parametrize("command", ["cluster", "status", "node"])
def test_every_flag_of_the_other_commands_has_help(command: str) -> None:
    """cluster, status and node too: what each flag does, and its default unless it is
    an on/off switch or a positional."""
    parser = _subcommands()[command]
    for action in parser._actions:
        if action.dest == "help":
            continue
        text = action.help or ""
        name = action.option_strings or [action.dest]
        assert len(text.split("(default")[0].strip()) >= 15, (command, name, text)
        if action.option_strings and not isinstance(action, argparse._StoreTrueAction):
            assert "default" in text, (command, name, text)
    rendered = " ".join(parser.format_help().split())
    assert "%(default)" not in rendered


def test_cluster_gives_each_node_its_metrics_port(monkeypatch, tmp_path, capsys) -> None:
    """`raftredis cluster --metrics-port M`: node i serves /metrics on M+i-1 (one port for
    all, through RAFTREDIS_METRICS_PORT, stops nodes 2.. at 'address already in use')."""
    import io

    from raftredis import cli

    started: list[list[str]] = []

    class Done:  # a node that has already exited: the command stops at once
        returncode = 0
        stdout = io.BytesIO(b"")

        def __init__(self, cmd: list[str], **kw: object) -> None:
            started.append(cmd)

        def poll(self) -> int:
            return 0

        def wait(self, timeout: float | None = None) -> int:
            return 0

    monkeypatch.setattr(cli.subprocess, "Popen", Done)
    monkeypatch.setattr(cli, "_lead_from_node1", lambda *a: None)  # no node to ask
    monkeypatch.setattr(cli.signal, "signal", lambda *a: None)  # keep pytest's handlers
    assert cli.main(["cluster", "--nodes", "3", "--port", "30000", "--metrics-port", "39000",
                     "--data-dir", str(tmp_path / "d"), "--secret", "x" * 16]) == 0
    ports = [cmd[cmd.index("--metrics-port") + 1] for cmd in started]
    assert ports == ["39000", "39001", "39002"]
    started.clear()
    assert cli.main(["cluster", "--nodes", "2", "--port", "30000",
                     "--data-dir", str(tmp_path / "d"), "--secret", "x" * 16]) == 0
    assert all("--metrics-port" not in cmd for cmd in started)  # off by default
