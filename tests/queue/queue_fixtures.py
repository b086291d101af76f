"""Shared test data for the queue tests: the bench file and small protocols."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).parent
BENCH_FILE = HERE / "bench.toml"


def _hold_then_rest(
    name: str, quantity: str, setpoint: str, *, tolerance: str, timeout: str, limit: str
) -> str:
    """A protocol that brings the slot's chamber or press to `setpoint` (a parameter), then
    rests an hour: it needs the instrument, and a slot whose range holds the setpoint."""
    return f"""
    name: {name}
    safety: {{voltage_min: 2.5 V, voltage_max: 4.4 V, abs_current_max: 10 mA,
             {quantity}_max: {limit}}}
    parameters: {{{quantity}: {setpoint}}}
    steps:
      - set_{quantity}: {{target: "${{{quantity}}}", tolerance: {tolerance}, timeout: {timeout}}}
      - rest: {{duration: 1 h}}
    """


# Small protocols, each made to need one thing a slot may lack.
SAFETY = "safety: {voltage_min: 2.5 V, voltage_max: 4.4 V, abs_current_max: 3C}\n"
PROTOCOLS = {
    "cycle": """
        name: short-cycle
        c_rate_basis: 200 mA/g
        parameters: {rate: 0.5C, cycles: 2}
        SAFETY
        steps:
          - repeat:
              times: ${cycles}
              steps:
                - cc: {rate: "${rate}", direction: charge, until: ["voltage >= 4.2 V"]}
                - cc: {rate: "${rate}", direction: discharge, until: ["voltage <= 3.0 V"]}
        """,
    "eis": """
        name: formation-then-eis
        c_rate_basis: 200 mA/g
        SAFETY
        steps:
          - rest: {duration: 10 min}
          - cc: {rate: 0.1C, direction: charge, until: ["voltage >= 4.2 V"]}
          - cc: {rate: 0.1C, direction: discharge, until: ["voltage <= 3.0 V"]}
          - rest: {duration: 10 min}
          - eis: {f_start: 100 kHz, f_end: 0.1 Hz, amplitude: 10 mV, dc_bias: ocv}
        """,
    "fast": """
        name: fast-charge
        c_rate_basis: 200 mA/g
        SAFETY
        steps:
          - cc: {rate: 3C, direction: charge, until: ["voltage >= 4.2 V"]}
          - cc: {rate: 1C, direction: discharge, until: ["voltage <= 3.0 V"]}
        """,
    "hot": _hold_then_rest(
        "hot-rest", "temperature", "60 degC", tolerance="0.5 K", timeout="2 h", limit="95 degC"
    ),
    "pressed": _hold_then_rest(
        "pressed-rest", "pressure", "15 MPa", tolerance="0.5 MPa", timeout="30 min", limit="60 MPa"
    ),
    "high-voltage": """
        name: high-voltage-hold
        safety: {voltage_min: 2.5 V, voltage_max: 5.0 V, abs_current_max: 10 mA}
        steps:
          - cv: {voltage: 4.8 V, until: [{step_time: ">= 1 h"}]}
        """,
    "rest": """
        name: plain-rest
        safety: {voltage_min: 2.5 V, voltage_max: 4.4 V, abs_current_max: 10 mA}
        parameters: {hours: 1 h}
        steps:
          - rest: {duration: "${hours}"}
        """,
}


def protocol_text(key: str) -> str:
    """The text of one of the test protocols."""
    return textwrap.dedent(PROTOCOLS[key]).replace("SAFETY\n", SAFETY).lstrip()


CELLBENCH = [sys.executable, "-c", "from scheduler.cli import main; main()"]


def claim_next(store, *slots: str, bench_name: str = "test-bench", daemon: str = "pc-1"):
    """Claim one job for `slots` as a daemon's tick does (policy, then atomic claim), or None."""
    from scheduler import queue
    from scheduler.claim_policy import BenchView

    view = BenchView(free=list(slots), chamber_of={slot: None for slot in slots})
    claimed, _groups = queue.claim_jobs(store, view, bench_name=bench_name, daemon_id=daemon)
    return claimed[0][0] if claimed else None
