"""A Li-In cell runs in the window its submission checked, through the real daemon.

kim2025's liquid-reference procedure states its voltages vs Li/Li+ (2.50-4.25 V, safety
2.3-4.35 V). On a cell whose counter electrode is Li-In (+0.62 V vs Li/Li+) every one of
them is 0.62 V lower on the cell's own scale. Submission checks the job against that shifted
window; the daemon must run the same window when it starts the job and when it resumes it
after a crash, or the cell is driven 0.62 V over its limit.
"""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest
import tomli_w
from daemon_process import lab, wait_for

import protocols
from scheduler import queue
from scheduler.binding import CellInfo, bind

PROCEDURE = protocols.LIBRARY / "kim2025/liquid-reference.yaml"
OVERRIDES = {"cycles": 1}  # one formation cycle shows both ends of the window
TIME_SCALE = 4000.0
LI_IN_V = 0.62


def _bench_text() -> str:
    data = {
        "bench": {"name": "li-in-bench", "recovery": "auto", "sample_period_s": 1.0},
        "instruments": {"pstat1": {"kind": "emstat4", "endpoint": "tcp://127.0.0.1:0"}},
        "slots": [
            {
                "name": "S1",
                "potentiostat": "pstat1",
                "cell_area_mm2": 113.1,
                "limits": {"voltage_min_V": 1.0, "voltage_max_V": 4.6, "abs_current_max_A": 0.02},
            }
        ],
        "simulation": {
            "time_scale": TIME_SCALE,
            "control": "tcp://127.0.0.1:0",
            "cells": {"S1": {"preset": "kim2025-liquid-reference", "soc": 0.0}},
        },
    }
    return tomli_w.dumps(data)


def _submit(store, bench) -> tuple[int, tuple[float, float], float, float]:
    """Submit the job for a Li-In cell; returns it with the window submission checked and
    the charge and discharge cut-offs on the cell's scale."""
    store.add_cell(
        "liin-1",
        active_mass_g=0.0123,
        area_cm2=1.131,
        specific_capacity_mAh_g=200.0,
        extra={"counter_electrode": "Li-In", "counter_electrode_V": LI_IN_V},
    )
    job_id = queue.submit(
        store,
        bench,
        protocol_path_or_text=PROCEDURE,
        cell_name="liin-1",
        slot="S1",
        by="technician",
        overrides=OVERRIDES,
    )
    cell = CellInfo.from_row(store.get_cell("liin-1"))
    plan = bind(protocols.load(PROCEDURE), cell, OVERRIDES).plan
    window = (plan.safety.voltage_min_V, plan.safety.voltage_max_V)
    assert window == pytest.approx((2.3 - LI_IN_V, 4.35 - LI_IN_V))  # what submission checked
    return job_id, window, 4.25 - LI_IN_V, 2.50 - LI_IN_V


def _assert_ran_in_window(store, run_id: int, window, v_charge: float, v_discharge: float):
    samples = store.read_samples(run_id)
    voltage = samples["voltage_V"]
    low, high = window
    assert voltage.max() <= high, f"the cell reached {voltage.max():.3f} V, over {high:.3f} V"
    assert voltage.min() >= low, f"the cell reached {voltage.min():.3f} V, under {low:.3f} V"
    # The cut-offs ran on the Li-In scale: the charge ended at 3.63 V, not 4.25 V, and the
    # discharge at 1.88 V, below the 2.5 V a Li-scale plan would have stopped at.
    assert voltage.max() == pytest.approx(v_charge, abs=0.03)
    assert voltage.min() <= v_discharge + 0.02  # the end of discharge overshoots a little
    # Each step ended on its own limit (stated vs Li/Li+), never on a safety trip.
    ends = [s.end_reason for s in store.steps(run_id)]
    assert "limit: voltage >= 4.25 V vs Li/Li+" in ends, ends
    assert "limit: voltage <= 2.50 V vs Li/Li+" in ends, ends


def _finished(store, job_id: int) -> bool:
    return store.get_job(job_id).state in ("completed", "failed", "cancelled")


@pytest.mark.slow
def test_li_in_job_runs_in_the_window_its_submission_checked(tmp_path) -> None:
    with lab(_bench_text(), tmp_path) as the_lab:
        store = the_lab.store
        job_id, window, v_charge, v_discharge = _submit(store, the_lab.bench)
        daemon = the_lab.start_daemon()
        wait_for(lambda: _finished(store, job_id), 180, "the job to finish", daemon)
        job = store.get_job(job_id)
        assert job.state == "completed", job.message
        run = store.latest_run_for_job(job_id)
    _assert_ran_in_window(store, run.id, window, v_charge, v_discharge)


@pytest.mark.slow
def test_resumed_li_in_job_keeps_the_window(tmp_path) -> None:
    with lab(_bench_text(), tmp_path) as the_lab:
        store = the_lab.store
        job_id, window, v_charge, v_discharge = _submit(store, the_lab.bench)
        daemon = the_lab.start_daemon("first")
        run = wait_for(lambda: store.latest_run_for_job(job_id), 30, "the run", daemon)

        def charging() -> bool:
            samples = store.read_samples(run.id)
            return bool(np.count_nonzero(samples["current_A"] > 0) >= 20)

        wait_for(charging, 60, "the charge to start", daemon)
        daemon.process.send_signal(signal.SIGKILL)
        daemon.process.wait()
        time.sleep(1.0)
        daemon = the_lab.start_daemon("second")
        wait_for(lambda: _finished(store, job_id), 180, "the resumed job to finish", daemon)
        job = store.get_job(job_id)
        assert job.state == "completed", job.message
        assert [e for e in store.events(run.id) if e.kind == "resumed"]
    _assert_ran_in_window(store, run.id, window, v_charge, v_discharge)
