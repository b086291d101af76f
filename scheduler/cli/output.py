"""Shared output helpers: rich for people, JSON for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console

from scheduler.jsonable import jsonable

console = Console()
err_console = Console(stderr=True)


def emit(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    """Print `data` as JSON when asked, otherwise hand it to a rich renderer."""
    if as_json:
        sys.stdout.write(json.dumps(jsonable(data), indent=2) + "\n")
    else:
        render(data)
