"""Plain JSON values from what the scheduler reports: one rule for the CLI, telemetry and stored
analyses. NaN and infinities become None (JSON has no NaN and PostgreSQL rejects it)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any


def jsonable(value: Any) -> Any:
    """Plain JSON values; NaN and infinities become None, numpy and pint values are unwrapped."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return jsonable(value.value)
    if hasattr(value, "magnitude") and hasattr(value, "units"):  # pint Quantity
        return {"value": jsonable(value.magnitude), "unit": str(value.units)}
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return jsonable(value.tolist())
    return str(value)
