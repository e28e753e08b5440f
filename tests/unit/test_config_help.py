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
