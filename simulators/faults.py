"""What every simulator's fault injection shares: the link faults and checking a fault's name
and its parameters.

Each simulator offers `inject(fault, **params)`, `clear()` and `state()`. A control request
may carry parameters meant for another kind of instrument (`value`, `after`, `code`,
`message`); a simulator reads the ones it knows and ignores the rest.
"""

from __future__ import annotations

from typing import Any

from simulators.errors import SimulatorError

LINK_FAULTS = ("drop", "stall")  # cut the host connections now; stop answering until clear()


def check_fault(fault: str, accepted: tuple[str, ...], who: str) -> None:
    """Refuse a fault name the simulator does not know, naming the ones it does."""
    if fault not in accepted:
        raise SimulatorError(
            f"the {who} simulator has no fault {fault!r}; its faults: {', '.join(accepted)}"
        )


def number(value: Any, default: float, name: str = "value") -> float:
    """A fault's numeric parameter (None: its default)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SimulatorError(f"{name!r} must be a number, not {value!r}")
    return float(value)
