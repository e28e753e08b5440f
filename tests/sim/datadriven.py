"""Data-driven tests, in the format of etcd's `datadriven` package.

A test file is a sequence of cases. Each case is a command line, optional input
lines, a separator, and the output the command must print:

    # comments and blank lines between cases are ignored
    propose 1 a
    ----
    1: proposed 2@1

    verb arg key=value key=(v1, v2)
    an input line, handed to the handler as is
    ----
    the expected output
    ends at the first blank line (or the end of the file)

An output that contains blank lines is written between doubled separators, so
it can never be mistaken for the start of the next case:

    stabilize
    ----
    ----
    round 1

    round 2
    ----
    ----

`run_file(path, handler)` calls `handler(case)` for each case in order (the
handler dispatches on `case.cmd`, one handler per verb, and returns the text the
command printed) and fails with a unified diff of expected vs actual for every
case that differs, naming `file:line`. With `rewrite=True`, or `REWRITE=1` in
the environment, the actual outputs are written back into the file instead
(comments and spacing between cases are kept); review the diff with git.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SEP = "----"
_TOKEN = re.compile(r"[^\s=]+=\([^)]*\)|\S+")


class DataDrivenError(AssertionError):
    pass


@dataclass(frozen=True)
class Arg:
    """`key` alone (vals empty), `key=v` (one value) or `key=(v1, v2, ...)`."""

    key: str
    vals: tuple[str, ...] = ()

    def __str__(self) -> str:
        if not self.vals:
            return self.key
        if len(self.vals) == 1:
            return f"{self.key}={self.vals[0]}"
        return f"{self.key}=({', '.join(self.vals)})"


@dataclass
class TestData:
    path: str
    line: int  # 1-based line of the command
    cmd: str
    args: list[Arg]
    input: str  # the input lines, joined with "\n" (no trailing newline)
    expected: str  # "" or text ending in "\n"
    # Lines [out_start, out_end) of the file hold the separator(s) and expected output.
    out_start: int = 0
    out_end: int = 0
    cmd_line: str = ""

    __test__ = False  # not a pytest class

    @property
    def pos(self) -> str:
        return f"{self.path}:{self.line}"

    def words(self) -> list[str]:
        """The arguments as the words of the command line (`key`, `key=v`, ...)."""
        return [str(a) for a in self.args]

    def has(self, key: str) -> bool:
        return any(a.key == key for a in self.args)

    def get(self, key: str, default: str | None = None) -> str | None:
        for a in self.args:
            if a.key == key:
                if len(a.vals) != 1:
                    raise DataDrivenError(f"{self.pos}: {key} wants one value")
                return a.vals[0]
        return default

    def get_int(self, key: str, default: int | None = None) -> int | None:
        v = self.get(key)
        return default if v is None else int(v)

    def fatal(self, msg: str) -> DataDrivenError:
        return DataDrivenError(f"{self.pos}: {self.cmd_line}: {msg}")


def parse_args(words: str) -> list[Arg]:
    out = []
    for tok in _TOKEN.findall(words):
        if "=" in tok:
            key, val = tok.split("=", 1)
            if val.startswith("(") and val.endswith(")"):
                vals = tuple(v.strip() for v in val[1:-1].split(",") if v.strip())
            else:
                vals = (val,)
            out.append(Arg(key, vals))
        else:
            out.append(Arg(tok))
    return out


def parse(text: str, path: str = "<string>") -> list[TestData]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line, it is not an empty line
    cases: list[TestData] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            i += 1
            continue
        start = i
        cmd_line = line.strip()
        i += 1
        inp: list[str] = []
        while i < n and lines[i] != SEP:
            if not lines[i].strip():
                raise DataDrivenError(
                    f"{path}:{start + 1}: `{cmd_line}`: blank line before the {SEP} separator"
                )
            inp.append(lines[i])
            i += 1
        if i >= n:
            raise DataDrivenError(f"{path}:{start + 1}: `{cmd_line}`: no {SEP} separator")
        out_start = i
        i += 1
        out: list[str] = []
        if i < n and lines[i] == SEP:
            # Doubled separator: the output runs to the next doubled separator.
            i += 1
            while True:
                if i >= n:
                    raise DataDrivenError(
                        f"{path}:{start + 1}: `{cmd_line}`: output opened with {SEP}/{SEP} "
                        "is never closed"
                    )
                if lines[i] == SEP and i + 1 < n and lines[i + 1] == SEP:
                    i += 2
                    break
                out.append(lines[i])
                i += 1
        else:
            while i < n and lines[i].strip():
                out.append(lines[i])
                i += 1
        words = cmd_line.split(None, 1)
        cases.append(TestData(
            path=path, line=start + 1, cmd=words[0],
            args=parse_args(words[1] if len(words) > 1 else ""),
            input="\n".join(inp), expected="".join(x + "\n" for x in out),
            out_start=out_start, out_end=i, cmd_line=cmd_line,
        ))
    return cases


def _normalize(out: str) -> str:
    out = "\n".join(x.rstrip() for x in out.rstrip("\n").split("\n"))
    return out + "\n" if out else ""


def format_output(out: str) -> list[str]:
    """The lines that hold `out` after a command: separators included."""
    body = out.rstrip("\n").split("\n") if out else []
    if any(not x.strip() for x in body):
        return [SEP, SEP, *body, SEP, SEP]
    return [SEP, *body]


@dataclass
class Result:
    cases: list[TestData] = field(default_factory=list)
    actual: list[str] = field(default_factory=list)
    rewritten: bool = False


def rewrite_enabled() -> bool:
    return os.environ.get("REWRITE", "") not in ("", "0", "false", "no")


def run_file(
    path: str | Path,
    handler: Callable[[TestData], str],
    rewrite: bool | None = None,
) -> Result:
    """Run every case of the file through `handler`; fail with diffs, or rewrite."""
    path = Path(path)
    if rewrite is None:
        rewrite = rewrite_enabled()
    text = path.read_text()
    cases = parse(text, str(path))
    res = Result(cases=cases)
    failures = []
    for d in cases:
        try:
            got = handler(d)
        except DataDrivenError:
            raise
        except Exception as exc:
            raise DataDrivenError(f"{d.pos}: `{d.cmd_line}` raised {type(exc).__name__}: {exc}") from exc
        got = _normalize(got)
        res.actual.append(got)
        if not rewrite and got != d.expected:
            diff = difflib.unified_diff(
                d.expected.splitlines(), got.splitlines(), "expected", "actual", lineterm="", n=2,
            )
            failures.append(f"{d.pos}: output of `{d.cmd_line}` differs:\n" + "\n".join(diff))
    if rewrite:
        lines = text.split("\n")
        trailing_nl = text.endswith("\n")
        if trailing_nl:
            lines.pop()
        for d, got in sorted(zip(cases, res.actual, strict=True), key=lambda x: -x[0].out_start):
            block = format_output(got)
            if d.out_end < len(lines) and lines[d.out_end].strip():
                block.append("")  # keep the next case apart
            lines[d.out_start:d.out_end] = block
        new = "\n".join(lines) + ("\n" if trailing_nl else "")
        if new != text:
            path.write_text(new)
            res.rewritten = True
        return res
    if failures:
        raise DataDrivenError(
            f"{len(failures)} case(s) of {path} differ "
            "(REWRITE=1 rewrites the expected outputs):\n\n" + "\n\n".join(failures)
        )
    return res


__all__ = ["Arg", "DataDrivenError", "Result", "TestData", "parse", "run_file"]
