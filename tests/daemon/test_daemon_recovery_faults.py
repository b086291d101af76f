"""Recovery when the instrument is busy, stalled or the chamber runs away meanwhile, through
the real daemon and the simulators in their own processes (bugs 3, 4 and 6 of issue 18)."""

from __future__ import annotations

import asyncio
import signal
import time

import numpy as np
import pytest
from daemon_process import lab, until
from recovery_lab import check_consistent, long_charge, one_slot_bench, submit
from simbench_process import control, port_zero


def _kill(daemon) -> None:
    daemon.process.send_signal(signal.SIGKILL)
    daemon.process.wait()


async def _pstat(bench) -> dict:
    return (await control(bench, {"query": "state"}))["state"]["potentiostats"]["pstat1"]


@pytest.mark.slow
async def test_bug3_reattach_on_a_fast_stream_streams_while_the_step_runs(tmp_path) -> None:
    # A point every 10 s at time scale 500: a line every 20 ms of wall time, never 50 ms of
    # silence on the line while the charge runs.
    with lab(port_zero(one_slot_bench(time_scale=500.0, timeout_s=5.0)), tmp_path) as the_lab:
        store, bench = the_lab.store, the_lab.bench
        job_id = submit(the_lab, long_charge("fast-stream"))
        daemon = the_lab.start_daemon("first")
        run = await until(lambda: store.latest_run_for_job(job_id), 30, "the run", daemon)
        await until(lambda: store.sample_count(run.id) >= 50, 30, "samples", daemon)
        _kill(daemon)
        before = store.read_samples(run.id)
        daemon = the_lab.start_daemon("second")
        # New samples are stored while the charge still runs on the instrument: the
        # re-attach did not wait for the stream to fall silent (the end of the step).
        stored = len(before["record_index"])
        await until(lambda: store.sample_count(run.id) > stored + 20, 30, "new samples", daemon)
        assert (await _pstat(bench))["script_running"]
        await until(
            lambda: store.get_job(job_id).state in ("completed", "failed"), 60, "the end", daemon
        )
        assert store.get_job(job_id).state == "completed", store.get_job(job_id).message
        after = check_consistent(store, job_id, before)
        assert set(np.unique(after["step_count"])) == {1}
        assert store.steps(run.id)[0].end_reason == "limit: voltage >= 4.3 V"


@pytest.mark.slow
async def test_bug4_sigterm_during_a_stalled_recovery_leaves_the_step_owned(tmp_path) -> None:
    with lab(port_zero(one_slot_bench(time_scale=200.0, timeout_s=20.0)), tmp_path) as the_lab:
        store, bench = the_lab.store, the_lab.bench
        job_id = submit(the_lab, long_charge("stalled-recovery"))
        daemon = the_lab.start_daemon("first")
        run = await until(lambda: store.latest_run_for_job(job_id), 30, "the run", daemon)
        await until(lambda: store.sample_count(run.id) >= 20, 30, "samples", daemon)
        _kill(daemon)
        assert (await control(bench, {"instrument": "pstat1", "fault": "stall"}))["ok"]
        daemon = the_lab.start_daemon("second")
        await until(
            lambda: any(e.kind == "resumed" for e in store.events(run.id)), 30, "recovery", daemon
        )
        await asyncio.sleep(1.0)  # re-attaching to an instrument that does not answer
        daemon.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(daemon.process.wait, 30) == 0, daemon.output()[-2000:]

        # The cell is still driven, by its step on the instrument, and it has an owner: the
        # interrupted run with its step open in the journal, and the event says so.
        assert (await _pstat(bench))["cell_on"]
        assert store.get_job(job_id).state == "interrupted"
        assert store.get_run(run.id).status == "interrupted"
        assert store.steps(run.id)[-1].end_reason is None
        stopped = [e for e in store.events(run.id) if e.kind == "interrupted"][-1]
        assert "keeps running on the instrument under its own limits" in stopped.message
        assert stopped.data["cell"] == "driven by its step on the instrument"

        # When the instrument answers again, the next start re-attaches and finishes the job.
        assert (await control(bench, {"instrument": "pstat1", "fault": "clear"}))["ok"]
        daemon = the_lab.start_daemon("third")
        await until(
            lambda: store.get_job(job_id).state in ("completed", "failed"), 90, "the end", daemon
        )
        assert store.get_job(job_id).state == "completed", store.get_job(job_id).message
        assert store.steps(run.id)[0].end_reason == "limit: voltage >= 4.3 V"
        assert not (await _pstat(bench))["cell_on"]


@pytest.mark.slow
async def test_bug6_a_trip_during_recovery_names_its_run(tmp_path) -> None:
    with lab(port_zero(one_slot_bench(time_scale=600.0, timeout_s=5.0)), tmp_path) as the_lab:
        store, bench = the_lab.store, the_lab.bench
        limit = bench.slot("S1").limits.temperature_max_degC
        job_id = submit(the_lab, long_charge("hot-recovery"))
        daemon = the_lab.start_daemon("first")
        run = await until(lambda: store.latest_run_for_job(job_id), 30, "the run", daemon)
        await until(lambda: store.sample_count(run.id) >= 20, 30, "samples", daemon)
        _kill(daemon)
        # While the daemon is away the chamber runs away above the slot's limit.
        answer = await control(bench, {"instrument": "chamber1", "fault": "overshoot", "value": 60})
        assert answer["ok"], answer

        async def hot() -> bool:
            state = (await control(bench, {"query": "state"}))["state"]
            return state["chambers"]["chamber1"]["air_degC"] > limit + 1

        deadline = time.monotonic() + 30
        while not await hot():
            assert time.monotonic() < deadline, "the chamber did not overshoot"
            await asyncio.sleep(0.1)
        daemon = the_lab.start_daemon("second")
        await until(
            lambda: store.get_job(job_id).state in ("completed", "failed"), 30, "the trip", daemon
        )
        trips = [e for e in store.events() if e.kind == "over-temperature"]
        assert len(trips) == 1
        assert trips[0].run_id == run.id
        assert trips[0].data["reaction_s"] is not None and trips[0].data["reaction_s"] >= 0
        assert store.get_run(run.id).status == "safety"
        assert store.get_job(job_id).state == "failed"
        assert not (await _pstat(bench))["cell_on"]


@pytest.mark.slow
async def test_a_stalled_emstat4_at_1_s_sampling_is_noticed_within_5_s(tmp_path) -> None:
    # Real time (time scale 1), a point a second; the slot's link timeout is the default.
    with lab(port_zero(one_slot_bench(time_scale=1.0, timeout_s=5.0)), tmp_path) as the_lab:
        store, bench = the_lab.store, the_lab.bench
        job_id = submit(the_lab, long_charge("stalls", dt="1 s"))
        daemon = the_lab.start_daemon()
        run = await until(lambda: store.latest_run_for_job(job_id), 30, "the run", daemon)
        await until(lambda: store.sample_count(run.id) >= 3, 30, "samples", daemon)
        assert (await control(bench, {"instrument": "pstat1", "fault": "stall"}))["ok"]
        stalled_at = time.time()
        await until(lambda: store.get_job(job_id).state == "failed", 30, "the stall", daemon)
        events = [e for e in store.events(run.id) if e.kind == "instrument"]
        assert len(events) == 1
        # Noticed (the event written) within 5 s of the stall, and the event says it stalled.
        assert events[0].at - stalled_at <= 5.0, events[0].at - stalled_at
        assert "stalled" in events[0].message and "3 sample periods of 1 s" in events[0].message
        assert (await _pstat(bench))["cell_on"]  # it has not answered the abort yet
        # The moment it answers again it runs the abort and switches the cell off.
        assert (await control(bench, {"instrument": "pstat1", "fault": "clear"}))["ok"]

        async def off() -> bool:
            return not (await _pstat(bench))["cell_on"]

        deadline = time.monotonic() + 10
        while not await off():
            assert time.monotonic() < deadline, "the cell stayed on after the stall"
            await asyncio.sleep(0.05)
        assert store.get_run(run.id).status == "failed"
