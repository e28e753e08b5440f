"""Situations from the Raft paper, as data files: tests/sim/testdata/*.txt hold the
commands (tests/sim/script.py) and the trace each must print (format:
tests/sim/datadriven.py). One test per file.

    python3 -m pytest -q tests/sim/test_scenarios.py
    REWRITE=1 python3 -m pytest -q tests/sim/test_scenarios.py    # accept new traces
    python3 -m tests.sim.script --rewrite tests/sim/testdata/transfer.txt
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sim.datadriven import DataDrivenError, TestData, format_output, parse, run_file
from tests.sim.script import ScenarioRunner, run_scenario_file, scenario_files

FILES = scenario_files()


def test_every_theme_has_a_file() -> None:
    names = {p.stem for p in FILES}
    assert {"elections", "replication", "read_index", "snapshots", "transfer"} <= names


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_file(path: Path) -> None:
    run_scenario_file(path)


# ---- the parser and runner themselves -----------------------------------------------------------
SAMPLE = """\
# a comment
echo a b=1 c=(x, y)
line one
line two
----
a b=1 c=(x, y)
line one
line two

echo
----
----
with

a blank line
----
----

echo
----
"""


def echo(d: TestData) -> str:
    if d.cmd != "echo":
        raise d.fatal("unknown verb")
    return "\n".join(x for x in [" ".join(d.words()), d.input] if x)


def test_parse_cases_args_inputs_and_doubled_separators() -> None:
    cases = parse(SAMPLE, "sample.txt")
    assert [c.line for c in cases] == [2, 10, 19]
    a = cases[0]
    assert a.cmd == "echo" and a.input == "line one\nline two"
    assert [(x.key, x.vals) for x in a.args] == [("a", ()), ("b", ("1",)), ("c", ("x", "y"))]
    assert a.get("b") == "1" and a.get_int("b") == 1 and a.has("a") and not a.has("z")
    assert cases[1].expected == "with\n\na blank line\n"
    assert cases[2].expected == ""


def test_format_output_doubles_the_separator_only_when_needed() -> None:
    assert format_output("x\ny\n") == ["----", "x", "y"]
    assert format_output("x\n\ny\n") == ["----", "----", "x", "", "y", "----", "----"]
    assert format_output("") == ["----"]


def test_parse_rejects_a_case_without_separator_or_an_unclosed_output() -> None:
    with pytest.raises(DataDrivenError, match="sample.txt:1"):
        parse("echo\nno separator\n", "sample.txt")
    with pytest.raises(DataDrivenError, match="never closed"):
        parse("echo\n----\n----\nout\n", "sample.txt")


def test_sample_passes(tmp_path: Path) -> None:
    f = tmp_path / "sample.txt"
    # echo prints nothing for the middle case
    f.write_text(SAMPLE.replace("----\n----\nwith\n\na blank line\n----\n----\n", "----\n"))
    run_file(f, echo, rewrite=False)


def test_a_differing_output_fails_with_a_diff_and_rewrite_fixes_the_file(tmp_path: Path) -> None:
    f = tmp_path / "sample.txt"
    f.write_text(SAMPLE)
    with pytest.raises(DataDrivenError) as ei:
        run_file(f, echo, rewrite=False)
    msg = str(ei.value)
    assert "1 case(s)" in msg and "sample.txt:10: output of `echo` differs" in msg
    assert "--- expected\n+++ actual\n" in msg and "\n-with\n-\n-a blank line" in msg
    res = run_file(f, echo, rewrite=True)
    assert res.rewritten
    text = f.read_text()
    assert "# a comment" in text and "with" not in text
    run_file(f, echo, rewrite=False)  # the rewritten file passes
    assert not run_file(f, echo, rewrite=True).rewritten  # and a second rewrite is a no-op


def test_rewrite_of_an_output_that_gains_blank_lines_and_a_handler_error(tmp_path: Path) -> None:
    f = tmp_path / "s.txt"
    f.write_text("echo x\n----\nwrong\necho y\n----\n")
    # "echo y" is part of the first output here: single-separator output runs to a blank line
    assert len(parse(f.read_text())) == 1

    f.write_text("echo x\n----\nwrong\n\necho y\n----\ny\n")
    run_file(f, lambda d: "a\n\nb" if d.words() == ["x"] else "y", rewrite=True)
    assert f.read_text() == "echo x\n----\n----\na\n\nb\n----\n----\n\necho y\n----\ny\n"
    run_file(f, lambda d: "a\n\nb" if d.words() == ["x"] else "y", rewrite=False)
    with pytest.raises(DataDrivenError, match=r"s.txt:1: `echo x` raised ValueError: boom"):
        run_file(f, lambda d: (_ for _ in ()).throw(ValueError("boom")))


def test_rewrite_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "s.txt"
    f.write_text("echo x\n----\nold\n")
    monkeypatch.setenv("REWRITE", "1")
    run_file(f, echo)
    assert f.read_text() == "echo x\n----\nx\n"


def test_scenario_trace_breakage_is_reported_with_the_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "s.txt"
    f.write_text("new nodes=3\n----\nok\n\ncampaign 1\n----\n1: role=leader leader=1\n")
    with pytest.raises(DataDrivenError) as ei:
        run_file(f, ScenarioRunner(), rewrite=False)
    assert "s.txt:5: output of `campaign 1` differs" in str(ei.value)
    assert "+1: role=pre_candidate leader=0" in str(ei.value)
    f.write_text("new nodes=3\n----\nok\n\nstatus 1 nosuchfield\n----\n")
    with pytest.raises(DataDrivenError, match="s.txt:5: `status 1 nosuchfield`: no status field"):
        run_file(f, ScenarioRunner(), rewrite=False)
