"""One reader per step type: a checked step body in, a Proto (or None, reported) out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from protocols.compile.handlers import dc, eis, environment, open_circuit, sweep
from protocols.compile.report import Where
from protocols.compile.state import Compilation, Proto

Handler = Callable[[Compilation, Any, Where], Proto | None]

HANDLERS: dict[str, Handler] = {
    "rest": open_circuit.rest,
    "wait": open_circuit.wait,
    "advance_cycle": open_circuit.advance_cycle,
    "cc": dc.cc,
    "cv": dc.cv,
    "cccv": dc.cccv,
    "cp": dc.cp,
    "pulse_train": dc.pulse_train,
    "eis": eis.eis,
    "sweep": sweep.sweep,
    "lsv": sweep.lsv,
    "set_temperature": environment.set_temperature,
    "set_pressure": environment.set_pressure,
}
ALIASES = {"ocv": "rest", "hold": "cv"}  # step types that are another's second name
