"""A crash at every point between two durable writes, on SQLite and PostgreSQL.

The daemon runs a short protocol: a host-side soak, a CC-CV charge, then a loop of two rests.
With CELLBENCH_CRASH_WALK it kills itself (SIGKILL) right after the first named durable
write it has not died at before (scheduler.crashpoints), recovery's own writes included; it
is restarted until it runs the job to its end without dying. After every restart: no
committed sample lost or changed, one record sequence, time increasing, no pass of a step
run twice unless an event says so, and run and job states that agree. At the end the job
and its run are completed and every step of the protocol ended exactly once. (The random
`kill -9` test, test_daemon_crash_recovery.py, stays beside this one.)
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

import pytest
from daemon_process import lab, stop_daemon
from recovery_lab import check_consistent, crash_walk, one_slot_bench, submit, walk_protocol
from simbench_process import port_zero

from scheduler.daemon.journal import step_ended

PLAN = ["SetTemperature", "ConstantCurrentConstantVoltage", "Rest", "Rest"]  # step by step
POINTS = {  # every named point of this protocol's bookkeeping, once each
    "job_claimed",
    "run_started",
    "step_started",
    "soak_stable",
    "phase_started",
    "step_ended",
    "run_finished",
    # a crash after the run finished closes the job in recovery (the job's closing by the
    # run itself, `job_closed`, is the last write of all: nothing is left to recover)
    "recovery_job_closed",
}
MAX_RESTARTS = 80


def _walk(tmp_path: Path, db: str | None) -> tuple[list[str], list[str]]:
    walk = tmp_path / "walk.txt"
    bench = port_zero(one_slot_bench(time_scale=3000.0))
    with lab(bench, tmp_path, db) as the_lab:
        store = the_lab.store
        job_id = submit(the_lab, walk_protocol())
        before = None
        for restart in range(MAX_RESTARTS):
            if store.get_job(job_id).state == "completed":
                break  # the last process died after closing the job
            daemon = the_lab.start_daemon(f"d{restart}", env=crash_walk(walk))
            deadline = time.monotonic() + 60
            while daemon.process.poll() is None and store.get_job(job_id).state != "completed":
                assert time.monotonic() < deadline, daemon.output()[-3000:]
                time.sleep(0.05)
            if store.get_job(job_id).state == "completed":
                # It may still die at its last point (after closing the job), or stop cleanly.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    daemon.process.wait(0.5)
                assert stop_daemon(daemon) in (0, -9), daemon.output()[-2000:]
                break
            assert daemon.process.returncode == -9, daemon.output()[-3000:]
            before = check_consistent(store, job_id, before)
        else:
            raise AssertionError(f"no end after {MAX_RESTARTS} restarts")
        after = check_consistent(store, job_id, before)
        job = store.get_job(job_id)
        run = store.latest_run_for_job(job_id)
        assert job.state == "completed" and run.status == "completed", job.message
        ended = [s for s in store.steps(run.id) if step_ended(s)]
        assert [s.kind for s in ended] == PLAN
        assert after is not None and len(after["record_index"]) > 0
    return walk.read_text().split(), [s.kind for s in ended]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_crash_at_every_point_loses_nothing_and_runs_nothing_twice(
    tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    db = request.getfixturevalue("pg_url") if engine == "postgresql" else None
    walked, _ = _walk(tmp_path, db)
    names = {label.split("@")[0] for label in walked}
    assert POINTS <= names, POINTS - names
    # Recovery's own writes were crashed at too.
    assert {"recovery_job_interrupted", "recovery_run_interrupted"} <= names
