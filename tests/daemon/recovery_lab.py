"""A one-slot bench, short protocols and the checks every restart must pass, for the tests
that kill the daemon at named crash points (scheduler.crashpoints) and restart it."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import numpy as np
import tomli_w
from daemon_bench import CELL
from daemon_process import DaemonProcess, Lab

from scheduler import queue
from scheduler.crashpoints import CRASH_AT, CRASH_WALK
from scheduler.daemon.journal import step_ended


def one_slot_bench(
    *, time_scale: float, sample_period_s: float = 1.0, soc: float = 0.0, timeout_s: float = 1.0
) -> str:
    """One EmStat4 in one ESPEC chamber. The EmStat4's link timeout is short by default: a
    re-attach to a step the instrument no longer runs waits that long before it asks."""
    return tomli_w.dumps(
        {
            "bench": {"name": "recovery", "recovery": "auto", "sample_period_s": sample_period_s},
            "instruments": {
                "pstat1": {
                    "kind": "emstat4",
                    "endpoint": "tcp://127.0.0.1:0",
                    "timeout_s": timeout_s,
                },
                "chamber1": {"kind": "espec", "endpoint": "tcp://127.0.0.1:0"},
            },
            "slots": [
                {
                    "name": "S1",
                    "potentiostat": "pstat1",
                    "chamber": "chamber1",
                    "cell_area_mm2": 113.1,
                    "limits": {
                        "voltage_min_V": 2.5,
                        "voltage_max_V": 4.4,
                        "abs_current_max_A": 0.02,
                        "temperature_max_degC": 70.0,
                    },
                }
            ],
            "simulation": {
                "time_scale": time_scale,
                "control": "tcp://127.0.0.1:0",
                "start_degC": 25.0,
                "cells": {"S1": {"preset": "gao2025-dfncm-llzo", "soc": soc}},
            },
        }
    )


HEADER = """
name: {name}
c_rate_basis: 200 mA/g
safety: {{voltage_min: 2.5 V, voltage_max: 4.4 V, abs_current_max: 1.2C}}
steps:
"""
CCCV = (
    '  - cccv: {rate: 1C, direction: charge, voltage: 4.2 V, until: [{current: "< 0.1C"}],'
    " record: {dt: %s}, label: CC-CV charge}\n"
)
REST = "  - rest: {duration: 10 min, record: {dt: 60 s}, label: rest}\n"
SOAK = (
    "  - set_temperature: {target: 25 degC, tolerance: 1 K, stable_for: 2 min, soak: 10 min,"
    " timeout: 2 h}\n"
)


def long_charge(name: str, *, dt: str = "10 s") -> str:
    """A 0.5C charge to 4.3 V (about 2 h from empty)."""
    return HEADER.format(name=name) + (
        '  - cc: {rate: 0.5C, direction: charge, until: [{voltage: ">= 4.3 V"}],'
        f" record: {{dt: {dt}}}}}\n"
    )


def cccv_then_rest(name: str, *, dt: str = "30 s") -> str:
    """A 1C CC-CV charge to 4.2 V until C/10 (about 1 h from empty), then a 10 min rest."""
    return HEADER.format(name=name) + CCCV % dt + REST


def walk_protocol(name: str = "crash-walk") -> str:
    """A soak, a CC-CV charge, then twice a rest: the crash-point walk's (short, so that a
    crash at each of its points stays quick)."""
    body = "".join(f"    {line}" for line in REST.splitlines(True))
    header = HEADER.format(name=name).replace("1.2C}", "1.2C, temperature_max: 60 degC}")
    loop = "  - repeat:\n      times: 2\n      steps:\n" + body
    return header + SOAK + CCCV % "60 s" + loop


def submit(lab: Lab, protocol: str) -> int:
    lab.store.add_cell("c1", **CELL)
    return queue.submit(
        lab.store, lab.bench, protocol_path_or_text=protocol, cell_name="c1", by="technician"
    )


def crash_at(point: str) -> dict[str, str]:
    return {CRASH_AT: point}


def crash_walk(path: Any) -> dict[str, str]:
    return {CRASH_WALK: str(path)}


def wait_exit(daemon: DaemonProcess, timeout_s: float) -> int:
    try:
        return daemon.process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"the daemon did not die at its crash point:\n{daemon.output()[-3000:]}"
        ) from None


def wait_job(lab: Lab, job_id: int, daemon: DaemonProcess, timeout_s: float = 60.0) -> Any:
    """Wait until the job is finished (or the daemon exits); returns the job."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = lab.store.get_job(job_id)
        if job.state in ("completed", "failed", "cancelled"):
            return job
        if daemon.process.poll() is not None:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish:\n{daemon.output()[-3000:]}")


def _pass_key(row: Any) -> tuple[int, str]:
    """Which pass of which protocol step a step record is (its index and loop counters)."""
    sequencer = (row.data or {}).get("sequencer", {})
    return row.step_index, json.dumps(sequencer.get("passes", {}), sort_keys=True)


def check_consistent(store: Any, job_id: int, before: dict[str, np.ndarray] | None) -> Any:
    """The checks after every restart; returns the samples now stored.

    No committed sample lost or changed; one record sequence; test time increasing and step
    time never running backwards within a step; no pass of a step run twice unless an event
    says it runs again; a finished job's run finished the same way.
    """
    run = store.latest_run_for_job(job_id)
    if run is None:
        return None
    after = store.read_samples(run.id)
    if before is not None and len(before["record_index"]):
        kept = np.isin(after["record_index"], before["record_index"])
        assert kept.sum() == len(before["record_index"]), "committed samples were lost"
        for column, values in before.items():
            assert np.array_equal(after[column][kept], values, equal_nan=True), column
    n = len(after["record_index"])
    assert np.array_equal(after["record_index"], np.arange(1, n + 1)), "record indices jump"
    assert np.all(np.diff(after["test_time_s"]) > 0), "test time ran backwards"
    for count in np.unique(after["step_count"]):
        times = after["step_time_s"][after["step_count"] == count]
        assert np.all(np.diff(times) > 0), f"step time of step {count} ran backwards"
    steps = store.steps(run.id)
    events = store.events(run.id)
    said = " ".join(e.message for e in events if e.kind in ("resumed", "restart"))
    seen: dict[tuple[int, str], list[Any]] = {}
    for row in steps:
        seen.setdefault(_pass_key(row), []).append(row)
    for rows in seen.values():
        for earlier in rows[:-1]:
            assert not step_ended(earlier), f"step {earlier.step_count} ran again after its end"
            assert f"step {earlier.step_count}" in said, f"step {earlier.step_count} reran silently"
    open_steps = [s for s in steps if s.end_reason is None]
    assert open_steps in ([], steps[-1:]), "a step record other than the last is left open"
    job, status = store.get_job(job_id), store.get_run(run.id).status
    if job.state == "completed":
        assert status == "completed", status
    else:  # a run ends only as its job does, but for a crash between the two writes
        assert job.state in ("running", "interrupted"), job.state
        assert status in ("running", "interrupted", "completed"), status
    return after
