"""Bench files, protocols and cells for the daemon acceptance tests and the daemon benchmark.

The test bench has six slots, each on its own EmStat4: A1-A4 in chamberA, B1 and B2 in
chamberB, and B2 also in the pneumatic press (press1). Every TCP port is 0, so
`cellbench sim --bench … --write-bench …` picks free ones.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w

SLOT_LIMITS = {
    "voltage_min_V": 2.5,
    "voltage_max_V": 4.4,
    "abs_current_max_A": 0.02,
    "temperature_max_degC": 70.0,
}
# Cells as in the crash-recovery test: 20.4 mg of NCM811 at 200 mA/g, so 1C is 4.08 mA.
CELL = {"active_mass_g": 0.0204, "area_cm2": 1.131, "specific_capacity_mAh_g": 200.0}


def six_slot_bench(
    *,
    name: str = "daemon-bench",
    time_scale: float = 1000.0,
    sample_period_s: float = 1.0,
    telemetry: dict[str, Any] | None = None,
    recovery: str = "auto",
) -> str:
    """Six slots, two chambers, one pressure rig (see the module docstring)."""
    slots = [(f"A{i}", "chamberA", None) for i in range(1, 5)]
    slots += [("B1", "chamberB", None), ("B2", "chamberB", "press1")]
    data: dict[str, Any] = {
        "bench": {"name": name, "recovery": recovery, "sample_period_s": sample_period_s},
        "instruments": {},
        "slots": [],
        "simulation": {
            "time_scale": time_scale,
            "control": "tcp://127.0.0.1:0",
            "start_degC": 25.0,
            "cells": {},
        },
    }
    if telemetry is not None:
        data["telemetry"] = telemetry
    for index, (slot, chamber, rig) in enumerate(slots, start=1):
        data["instruments"][f"pstat{index}"] = {"kind": "emstat4", "endpoint": "tcp://127.0.0.1:0"}
        entry: dict[str, Any] = {
            "name": slot,
            "potentiostat": f"pstat{index}",
            "channel": 0,
            "chamber": chamber,
            "cell_area_mm2": 78.5 if rig else 113.1,
            "limits": dict(SLOT_LIMITS, **({"pressure_max_MPa": 30.0} if rig else {})),
        }
        if rig:
            entry["rig"] = rig
        data["slots"].append(entry)
        data["simulation"]["cells"][slot] = {"preset": "gao2025-dfncm-llzo", "soc": 0.5}
    for chamber in ("chamberA", "chamberB"):
        data["instruments"][chamber] = {"kind": "espec", "endpoint": "tcp://127.0.0.1:0"}
    data["instruments"]["press1"] = {
        "kind": "pressure-rig",
        "controller": "tcp://127.0.0.1:0",
        "gauge": "tcp://127.0.0.1:0",
        "piston_area_mm2": 1963.5,
        "friction_N": 15.0,
    }
    return tomli_w.dumps(data)


def many_slot_bench(
    slots: int, *, name: str, time_scale: float, telemetry: dict[str, Any] | None = None
) -> str:
    """`slots` EmStat4 slots without chambers or rigs (the daemon benchmark's bench)."""
    data: dict[str, Any] = {
        "bench": {"name": name, "recovery": "auto", "sample_period_s": 1.0},
        "instruments": {},
        "slots": [],
        "simulation": {"time_scale": time_scale, "control": "tcp://127.0.0.1:0", "cells": {}},
    }
    if telemetry is not None:
        data["telemetry"] = telemetry
    for index in range(1, slots + 1):
        slot = f"S{index:02d}"
        data["instruments"][f"pstat{index}"] = {"kind": "emstat4", "endpoint": "tcp://127.0.0.1:0"}
        data["slots"].append(
            {"name": slot, "potentiostat": f"pstat{index}", "limits": dict(SLOT_LIMITS)}
        )
        data["simulation"]["cells"][slot] = {"preset": "gao2025-dfncm-llzo", "soc": 0.0}
    return tomli_w.dumps(data)


def part_of(resolved: Path, slots: list[str], target: Path) -> Path:
    """A bench file with only `slots` (and the instruments they use) of a resolved bench.

    Two daemons, each given one part of the same bench name, share that bench's queue.
    """
    raw = tomllib.loads(resolved.read_text())
    keep = [s for s in raw["slots"] if s["name"] in slots]
    used = {s[role] for s in keep for role in ("potentiostat", "chamber", "rig") if s.get(role)}
    raw["slots"] = keep
    raw["instruments"] = {k: v for k, v in raw["instruments"].items() if k in used}
    cells = raw["simulation"].get("cells", {})
    raw["simulation"]["cells"] = {k: v for k, v in cells.items() if k in slots}
    target.write_text(tomli_w.dumps(raw))
    return target


def add_cells(store: Any, names: list[str]) -> None:
    for name in names:
        store.add_cell(name, **CELL)


# Two 1C cycles of at most 10 min per half cycle, a point every 10 s.
HALF_CYCLES = """
        - cc:
            rate: 1C
            direction: charge
            until: [{voltage: ">= 4.3 V"}, {step_time: ">= 10 min"}]
            record: {dt: 10 s}
        - cc:
            rate: 1C
            direction: discharge
            until: [{voltage: "<= 3.0 V"}, {step_time: ">= 10 min"}]
            record: {dt: 10 s}
"""
CYCLING = f"""
name: short-cycle
c_rate_basis: 200 mA/g
safety: {{voltage_min: 2.5 V, voltage_max: 4.4 V, abs_current_max: 1.2C}}
steps:
  - repeat:
      times: 2
      steps:{HALF_CYCLES}        - advance_cycle: {{}}
"""

# A short variable-temperature EIS: 25 -> 35 -> 45 degC with short soaks, a spectrum at each
# setpoint, and the chamber back at 25 degC at the end.
VT_EIS = """
name: vt-eis-short
c_rate_basis: 200 mA/g
record: {dt: 10 s}
safety: {voltage_min: 2.5 V, voltage_max: 4.4 V, temperature_max: 60 degC}
steps:
  - for_each:
      over: {T: [25 degC, 35 degC, 45 degC]}
      cycle_type: eis
      steps:
        - set_temperature:
            {target: "${T}", tolerance: 0.5 K, stable_for: 5 min, soak: 10 min, timeout: 2 h}
        - rest: {duration: 2 min, label: "OCV at ${T}"}
        - eis:
            mode: potentiostatic
            f_start: 10 kHz
            f_end: 1 Hz
            points_per_decade: 5
            amplitude: 10 mV
            dc_bias: ocv
            label: "PEIS at ${T}"
  - set_temperature: {target: 25 degC, tolerance: 0.5 K, stable_for: 5 min, timeout: 2 h}
"""

# One 1C cycle under 5 MPa of stack pressure, released at the end.
PRESSED = f"""
name: pressed-cycle
c_rate_basis: 200 mA/g
safety:
  {{voltage_min: 2.5 V, voltage_max: 4.4 V, abs_current_max: 1.2C, pressure_max: 20 MPa}}
steps:
  - repeat:
      times: 1
      steps:
        - set_pressure: {{target: 5 MPa, tolerance: 0.5 MPa, settle: 2 min, timeout: 1 h}}
{HALF_CYCLES}        - set_pressure: {{target: 0 MPa}}
"""


def long_charge(
    minutes: float, *, rate: str = "0.1C", dt_s: float = 10.0, name: str = "long-charge"
) -> str:
    """A slow charge of `minutes` simulated minutes (or until 4.3 V, whichever comes first)."""
    return f"""
name: {name}
c_rate_basis: 200 mA/g
safety: {{voltage_min: 2.5 V, voltage_max: 4.4 V, abs_current_max: 1.2C}}
steps:
  - cc:
      rate: {rate}
      direction: charge
      until: [{{voltage: ">= 4.3 V"}}, {{step_time: ">= {minutes:g} min"}}]
      record: {{dt: {dt_s:g} s}}
"""
