"""Kills of the daemon aimed at the moments between two bookkeeping writes (issue 18's bugs),
each through the real daemon and the simulators in their own processes, then a restart.

The daemon dies at a named crash point (scheduler.crashpoints, CELLBENCH_CRASH_AT), right
after the write of that name committed, as a `kill -9` would leave it.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from daemon_process import lab, wait_for
from recovery_lab import (
    REST,
    SOAK,
    cccv_then_rest,
    check_consistent,
    crash_at,
    one_slot_bench,
    submit,
    wait_exit,
    wait_job,
    walk_protocol,
)
from simbench_process import port_zero

from scheduler.crashpoints import CRASH_AT


@dataclass
class Outcome:
    """What a crash at one point and a restart left."""

    job: Any
    run: Any
    steps_before: list[Any]  # the step records at the crash
    steps: list[Any]
    samples: dict[str, np.ndarray]
    events: list[Any]


def _crash_then_finish(
    tmp_path, protocol: str, point: str, *, time_scale: float = 3000.0, soc: float = 0.0
) -> Outcome:
    """Run `protocol` until the daemon dies at `point`, restart it, wait for the job."""
    bench = port_zero(one_slot_bench(time_scale=time_scale, soc=soc))
    with lab(bench, tmp_path) as the_lab:
        store = the_lab.store
        job_id = submit(the_lab, protocol)
        first = the_lab.start_daemon("first", env=crash_at(point))
        assert wait_exit(first, 60) == -9, first.output()[-2000:]
        run = store.latest_run_for_job(job_id)
        before = store.read_samples(run.id) if run is not None else None
        steps_before = store.steps(run.id) if run is not None else []
        second = the_lab.start_daemon("second", env={CRASH_AT: ""})
        job = wait_job(the_lab, job_id, second)
        after = check_consistent(store, job_id, before)
        run = store.latest_run_for_job(job_id)
        steps, events = store.steps(run.id), store.events(run.id)
        return Outcome(job, store.get_run(run.id), steps_before, steps, after, events)


@pytest.mark.slow
def test_bug2_a_step_whose_end_is_journaled_never_runs_again(tmp_path) -> None:
    out = _crash_then_finish(tmp_path, cccv_then_rest("ended-step"), "step_ended@0")
    assert out.job.state == "completed" and out.run.status == "completed", out.job.message
    assert [s.kind for s in out.steps] == ["ConstantCurrentConstantVoltage", "Rest"]
    assert out.steps[0].end_reason.startswith("limit") and "current" in out.steps[0].end_reason
    assert set(np.unique(out.samples["step_count"])) == {1, 2}
    resumed = [e.message for e in out.events if e.kind == "resumed"]
    assert resumed and "had ended" in resumed[0], resumed
    assert not any("runs again" in m for m in resumed)


@pytest.mark.slow
def test_bug2_a_finished_run_closes_its_job_on_recovery(tmp_path) -> None:
    out = _crash_then_finish(tmp_path, cccv_then_rest("finished-run"), "run_finished")
    assert out.run.status == "completed" and out.job.state == "completed", out.job.message
    assert [(s.step_count, s.end_reason) for s in out.steps] == [
        (s.step_count, s.end_reason) for s in out.steps_before
    ]
    assert len(out.steps) == 2
    assert any(e.kind == "recovered" and "nothing runs again" in e.message for e in out.events)
    assert not any(e.kind == "resumed" for e in out.events)


def _cv_samples(samples: dict, cc_current_A: float) -> np.ndarray:
    """Which samples of step 1 were taken in its CV phase (current fallen below the CC's)."""
    return (samples["step_count"] == 1) & (samples["current_A"] < 0.95 * cc_current_A)


@pytest.mark.slow
def test_bug1_a_kill_in_the_cv_phase_keeps_the_time_axis(tmp_path) -> None:
    bench = port_zero(one_slot_bench(time_scale=300.0, soc=0.6))
    with lab(bench, tmp_path) as the_lab:
        store = the_lab.store
        job_id = submit(the_lab, cccv_then_rest("cv-kill", dt="10 s"))
        daemon = the_lab.start_daemon("first")
        run = wait_for(lambda: store.latest_run_for_job(job_id), 30, "the run", daemon)
        cc_current = 4.08e-3  # 1C of the 20.4 mg cell

        def in_cv() -> bool:
            samples = store.read_samples(run.id, columns=("step_count", "current_A"))
            return int(_cv_samples(samples, cc_current).sum()) >= 5

        wait_for(in_cv, 60, "samples of the CV phase", daemon)
        daemon.process.send_signal(signal.SIGKILL)
        daemon.process.wait()
        before = store.read_samples(run.id)
        killed_at = float(before["test_time_s"].max())
        time.sleep(1.0)  # the CV phase goes on on the instrument
        second = the_lab.start_daemon("second")
        job = wait_job(the_lab, job_id, second)
        assert job.state == "completed", job.message
        after = check_consistent(store, job_id, before)
        steps, events = store.steps(run.id), store.events(run.id)

    # The CV phase's samples after the kill are stamped after the kill, in step time too.
    cv = _cv_samples(after, cc_current)
    late = cv & (after["record_index"] > before["record_index"].max())
    assert late.sum() > 0
    assert after["test_time_s"][late].min() > killed_at
    step_start = steps[0].started_at_s
    assert np.allclose(after["test_time_s"][late], step_start + after["step_time_s"][late])
    # The outage's samples were fetched from the instrument, and the step ended after them.
    assert steps[0].end_reason.startswith("limit") and "current" in steps[0].end_reason
    assert steps[0].ended_at_s >= after["test_time_s"][late].max() - 1e-6
    assert [s.kind for s in steps] == ["ConstantCurrentConstantVoltage", "Rest"]
    resumed = [e.message for e in events if e.kind == "resumed"]
    assert resumed and "phase 2" in resumed[0], resumed


@pytest.mark.slow
def test_bug1_a_kill_before_the_cv_script_starts_starts_it_once(tmp_path) -> None:
    out = _crash_then_finish(tmp_path, cccv_then_rest("cv-start"), "phase_started@0.1")
    assert out.job.state == "completed", out.job.message
    assert [s.kind for s in out.steps] == ["ConstantCurrentConstantVoltage", "Rest"]
    cv = _cv_samples(out.samples, 4.08e-3)
    assert cv.sum() > 0  # the CV phase ran, once, after the CC phase in step time
    cc_end = out.samples["step_time_s"][(out.samples["step_count"] == 1) & ~cv].max()
    assert out.samples["step_time_s"][cv].min() > cc_end
    restarted = [e.message for e in out.events if e.kind == "restart"]
    assert restarted and "starts now" in restarted[0], [e.message for e in out.events]


@pytest.mark.slow
def test_bug5_a_lost_closing_package_is_a_gap_with_bounds(tmp_path) -> None:
    # Killed after it read the rest's last lines, before it journaled the rest's end: the
    # instrument has nothing left of it, and the last samples went with the daemon.
    out = _crash_then_finish(
        tmp_path, cccv_then_rest("lost-end"), "phase_streamed@1.0", time_scale=300.0, soc=0.8
    )
    assert out.job.state == "completed", out.job.message
    rest = out.steps[1]
    assert rest.kind == "Rest" and len(out.steps) == 2
    # A rest only its 10 min end: by recovery that has run out, so it ended on time.
    assert rest.end_reason == "limit: step_time >= 10 min", rest.end_reason
    assert rest.ended_at_s == pytest.approx(rest.started_at_s + 600.0)
    gaps = [e for e in out.events if e.kind == "gap"]
    assert len(gaps) == 1, [e.message for e in out.events]
    stored = out.samples["test_time_s"][out.samples["step_count"] == 2].max()
    assert gaps[0].data["from_s"] == pytest.approx(stored)
    assert gaps[0].data["to_s"] == pytest.approx(rest.ended_at_s)
    assert "lost with the daemon" in gaps[0].message


@pytest.mark.slow
def test_a_soak_resumes_from_the_state_of_the_chamber(tmp_path) -> None:
    # A 2 h soak at 25 degC in a chamber already at 25 degC; killed as the soak begins.
    header = walk_protocol("soak-resume").split("  - set_temperature")[0]
    protocol = header + SOAK.replace("soak: 10 min", "soak: 2 h") + REST
    out = _crash_then_finish(tmp_path, protocol, "soak_stable@0", time_scale=1000.0)
    assert out.job.state == "completed", out.job.message
    kinds = [s.kind for s in out.steps]
    assert kinds == ["SetTemperature", "SetTemperature", "Rest"], kinds
    first, again = out.steps[0], out.steps[1]
    assert first.end_reason.startswith("interrupted (crash)")  # killed in its soak
    assert again.end_reason == "completed"
    # The soak went on where it was: the step run again took less than the soak's 2 h
    # (the outage and the restart took some of it), not the stability wait and the whole soak.
    soak_s = 2 * 3600.0
    took = again.ended_at_s - again.started_at_s
    assert 0 < took < soak_s, took
    resumed = [e.message for e in out.events if e.kind == "resumed"]
    assert resumed and "soak goes on" in resumed[0], resumed


@pytest.mark.slow
def test_a_kill_between_the_cc_and_the_cv_phase_is_a_gap_then_the_cv_phase(tmp_path) -> None:
    # The daemon read the CC phase's end, then died before it journaled the CV phase: the
    # instrument has nothing of it left. The CC phase's end is a gap with bounds; the last
    # stored sample had reached the CV voltage, so the CV phase runs, after the gap.
    out = _crash_then_finish(
        tmp_path, cccv_then_rest("cc-to-cv"), "phase_streamed@0.0", time_scale=600.0, soc=0.4
    )
    assert out.job.state == "completed", out.job.message
    assert [s.kind for s in out.steps] == ["ConstantCurrentConstantVoltage", "Rest"]
    gaps = [e for e in out.events if e.kind == "gap"]
    assert len(gaps) == 1 and gaps[0].data["step_count"] == 1, [e.message for e in out.events]
    cv = _cv_samples(out.samples, 4.08e-3)
    assert cv.sum() > 0
    step_start = out.steps[0].started_at_s
    first_cv = out.samples["test_time_s"][cv].min()
    assert first_cv > gaps[0].data["to_s"] >= gaps[0].data["from_s"] >= step_start
    assert out.steps[0].end_reason.startswith("limit") and "current" in out.steps[0].end_reason
