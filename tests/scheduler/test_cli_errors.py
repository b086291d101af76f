"""The CLI's error convention: one sentence on stderr, a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

CELLBENCH = [sys.executable, "-c", "from scheduler.cli import main; main()"]


def cellbench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CELLBENCH, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("demo", "--bogus"), "No such option: --bogus"),
        (("demo", "--time-scale", "-1"), "--time-scale must be positive"),
        (("protocol", "check", "/nonexistent/p.yaml"), "/nonexistent/p.yaml"),
        (("sim", "run", "/nonexistent/p.yaml"), "/nonexistent/p.yaml"),
        (("sim", "presets", "no-such-preset"), "no-such-preset"),
    ],
)
def test_bad_input_is_one_line_without_traceback(args: tuple[str, ...], expected: str) -> None:
    result = cellbench(*args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert expected in lines[0]


def test_debug_flag_shows_the_traceback() -> None:
    result = cellbench("--debug", "protocol", "check", "/nonexistent/p.yaml")
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_no_arguments_prints_help_not_an_error() -> None:
    result = cellbench()
    assert "Usage" in result.stdout + result.stderr
    assert "error:" not in result.stderr
