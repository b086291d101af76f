"""Twelve jobs on a six-slot bench (two chambers, one pressure rig), run by TWO daemons that
share one PostgreSQL queue: every job completes once, priorities are honoured, and a
variable-temperature EIS group shares its chamber without disturbing the other cell in it.

The bench's slots are split between the daemons by chamber (daemon 1: A1-A4 in chamberA;
daemon 2: B1 in chamberB and B2 in chamberB + press1) under one bench name, so both daemons
claim from the same list of queued jobs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from daemon_bench import (
    CYCLING,
    PRESSED,
    VT_EIS,
    add_cells,
    long_charge,
    part_of,
    six_slot_bench,
)
from daemon_process import DaemonProcess, start_daemon, stop_daemon
from simbench_process import start_sim, stop_sim

from scheduler import queue
from scheduler.bench import Bench
from storage import open_store

FINISHED = ("completed", "failed", "cancelled")
SETPOINTS = (25.0, 35.0, 45.0)
TOLERANCE_K = 0.5  # the VT-EIS protocol's soak tolerance


def wait_all(predicate: Any, timeout_s: float, what: str, daemons: list[DaemonProcess]) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        for daemon in daemons:
            if daemon.process.poll() is not None:
                raise AssertionError(f"a daemon exited waiting for {what}:\n{daemon.output()}")
        time.sleep(0.1)
    logs = "\n".join(d.output()[-2000:] for d in daemons)
    raise AssertionError(f"timed out waiting for {what}:\n{logs}")


def run_of(store: Any, job_id: int) -> Any:
    runs = [r for r in store.list_runs() if r.job_id == job_id]
    assert len(runs) == 1, f"job {job_id} has {len(runs)} runs"
    return runs[0]


def claims(store: Any, job_id: int) -> list[Any]:
    return [h for h in store.job_history(job_id) if h.to_state == "running"]


@pytest.mark.slow
@pytest.mark.postgres
def test_two_daemons_share_the_queue_priorities_and_a_temperature_group(
    tmp_path: Path, pg_url: str
) -> None:
    sim = start_sim(six_slot_bench(time_scale=1000.0), tmp_path)
    store = open_store(pg_url)
    daemons: list[DaemonProcess] = []
    try:
        bench = Bench.load(sim.resolved)
        first = part_of(sim.resolved, ["A1", "A2", "A3", "A4"], tmp_path / "part1.toml")
        second = part_of(sim.resolved, ["B1", "B2"], tmp_path / "part2.toml")
        add_cells(store, [f"c{i}" for i in range(1, 13)])

        def submit(protocol: str, cell: str, slot: str | None, **kw: Any) -> int:
            return queue.submit(
                store,
                bench,
                protocol_path_or_text=protocol,
                cell_name=cell,
                slot=slot,
                by="technician",
                **kw,
            )

        # chamberA: a cycling job on A4, then the VT-EIS group on A1-A3, then another
        # cycling job on A4 submitted after the group.
        before = submit(CYCLING, "c1", "A4")
        # Any slot that fits; long enough (12 s of wall time) to be running when the second
        # daemon starts, even on a loaded machine.
        early_any = submit(long_charge(200), "c10", None)
        group = [submit(VT_EIS, f"c{i}", f"A{i - 1}", group="vt") for i in (2, 3, 4)]
        after = submit(CYCLING, "c5", "A4")
        # chamberB: a chain of cycling jobs on B1, a pressed cycle on B2.
        b1_first = submit(CYCLING, "c6", "B1")
        pressed = submit(PRESSED, "c7", "B2")
        low = [submit(CYCLING, f"c{i}", "B1") for i in (8, 9)]

        daemons.append(start_daemon(first, pg_url, tmp_path, "first", daemon_id="daemon-1"))
        # The second daemon starts while the first runs jobs: its recovery must leave the
        # running jobs of the other daemon's slots alone.
        wait_all(lambda: store.latest_run_for_job(before), 30, "the first run", daemons)
        daemons.append(start_daemon(second, pg_url, tmp_path, "second", daemon_id="daemon-2"))
        wait_all(lambda: store.latest_run_for_job(b1_first), 30, "the run on B1", daemons)
        # Submitted later but more urgent: it goes ahead of the two waiting on B1.
        high = submit(CYCLING, "c11", "B1", priority=5)
        wait_all(lambda: all(store.latest_run_for_job(j) for j in group), 60, "the group", daemons)
        late_any = submit(CYCLING, "c12", None)  # chamberA is the group's now: a B slot
        jobs = [before, *group, after, b1_first, pressed, *low, early_any, high, late_any]
        assert len(jobs) == 12
        wait_all(
            lambda: all(store.get_job(j).state in FINISHED for j in jobs),
            150,
            "every job to finish",
            daemons,
        )
    finally:
        for daemon in daemons:
            stop_daemon(daemon)
        stop_sim(sim)

    # Every job ran exactly once, to completion, claimed once by the daemon owning its slot.
    for job_id in jobs:
        job = store.get_job(job_id)
        assert job.state == "completed", (job_id, job.state, job.message)
        assert run_of(store, job_id).status == "completed"
        (claim,) = claims(store, job_id)
        owner = "daemon-1" if job.slot.startswith("A") else "daemon-2"
        assert claim.by == owner, (job_id, job.slot, claim.by)
        assert not [e for e in store.events(run_of(store, job_id).id) if e.kind == "interrupted"]
    # The second daemon started (recovered, then claimed) while the first ran a job, and
    # left it alone.
    (second_start,) = claims(store, b1_first)
    assert run_of(store, early_any).started_at < second_start.at < run_of(store, early_any).ended_at
    # Both daemons took any-slot jobs from the one queue.
    assert store.get_job(early_any).slot.startswith("A")
    assert store.get_job(late_any).slot.startswith("B")

    # Priorities: on B1 the later, higher-priority job started before the two waiting ones.
    starts = {j: run_of(store, j).started_at for j in (b1_first, high, *low)}
    assert starts[b1_first] < starts[high] < starts[low[0]] < starts[low[1]]

    # The group ran together in chamberA, and nothing else ran there meanwhile.
    group_runs = [run_of(store, j) for j in group]
    group_start = min(r.started_at for r in group_runs)
    group_end = max(r.ended_at for r in group_runs)
    assert max(r.started_at for r in group_runs) < min(r.ended_at for r in group_runs)
    for other in (before, early_any, after):
        run = run_of(store, other)
        assert run.ended_at <= group_start or run.started_at >= group_end, other
    assert run_of(store, before).ended_at <= group_start  # the group waited for it
    assert run_of(store, after).started_at >= group_end  # it waited for the group

    # The fourth cell's cycling jobs saw a steady chamber: the setpoint they found.
    for job_id, setpoint in ((before, 25.0), (after, 25.0)):
        samples = store.read_samples(run_of(store, job_id).id)
        temperature = samples["temperature_degC"]
        assert len(temperature) > 100 and np.isfinite(temperature).all()
        assert np.abs(temperature - setpoint).max() < TOLERANCE_K, (job_id, temperature.max())
    assert set(np.unique(store.read_samples(run_of(store, before).id)["cycle"])) == {1, 2}

    # Each member measured one spectrum per setpoint, all three at the same temperatures.
    measured = []
    for run in group_runs:
        spectra = store.spectra(run.id)
        assert len(spectra) == len(SETPOINTS)
        temps = [s.temperature_degC for s in spectra]
        assert np.allclose(temps, SETPOINTS, atol=TOLERANCE_K), temps
        assert all(s.n_points >= 20 for s in spectra)
        measured.append(temps)
    assert np.ptp(np.asarray(measured), axis=0).max() < 0.3

    # The pressed cycle ran at its stack pressure.
    samples = store.read_samples(run_of(store, pressed).id)
    driving = samples["current_A"] != 0
    pressure_MPa = samples["pressure_Pa"][driving] / 1e6
    assert len(pressure_MPa) > 50 and np.abs(np.median(pressure_MPa) - 5.0) < 0.5
