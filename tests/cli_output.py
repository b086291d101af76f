"""What `cellbench` prints, read back as a user's script would: its JSON, or its one error line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scheduler.cli import main


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    main([*args, "--json"])
    return json.loads(capsys.readouterr().out)


def cli_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """The one line a refused command prints (no traceback)."""
    with pytest.raises(SystemExit) as caught:
        main(list(args))
    assert caught.value.code != 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]
