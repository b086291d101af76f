"""Shared output helpers: rich for people, JSON for scripts."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def _clean(value: Any) -> Any:
    """Make floats JSON-safe (NaN/inf become null) and tuples lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def emit(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    """Print `data` as JSON when asked, otherwise hand it to a rich renderer."""
    if as_json:
        sys.stdout.write(json.dumps(_clean(data), indent=2, default=str) + "\n")
    else:
        render(data)
