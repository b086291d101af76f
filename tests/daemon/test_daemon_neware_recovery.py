"""`kill -9` of the daemon while a Neware channel runs a job, with the BTS simulator in its own
process: the channel never stops, and the restarted daemon re-attaches and downloads exactly
the records it had not stored (no gap, no duplicate), and says so in an event."""

from __future__ import annotations

import asyncio
import signal
import time

import numpy as np
import pytest
from daemon_process import assert_kept, lab, wait_for
from simbench_process import control
from test_daemon_neware import add_cell, bench_text, submit

TIME_SCALE = 5000.0


@pytest.mark.slow
def test_kill_9_mid_schedule_then_restart_fetches_exactly_the_missed_records(tmp_path) -> None:
    text = bench_text(1).replace("time_scale = 20000.0", f"time_scale = {TIME_SCALE}")
    with lab(text, tmp_path) as the_lab:
        store, bench = the_lab.store, the_lab.bench
        add_cell(store)
        job_id = submit(store, bench, "N1", by="technician")
        daemon = the_lab.start_daemon("first")
        run = wait_for(lambda: store.latest_run_for_job(job_id), 30, "the run", daemon)
        wait_for(lambda: store.sample_count(run.id) >= 300, 60, "records", daemon)
        daemon.process.send_signal(signal.SIGKILL)
        daemon.process.wait()
        before = store.read_samples(run.id)
        time.sleep(2.0)  # the cycler keeps logging meanwhile
        during = asyncio.run(control(bench, {"query": "state"}))["state"]
        channel = during["potentiostats"]["bts"]["channels"]["1-1-1"]
        assert channel["state"] == "working" and channel["records"] > before["record_index"].max()

        the_lab.restart_to_completion(job_id)
        after = store.read_samples(run.id)
        final = asyncio.run(control(bench, {"query": "state"}))["state"]
        logged = final["potentiostats"]["bts"]["channels"]["1-1-1"]
        events = store.events(run.id)

    assert logged["state"] == "finish" and logged["testid"] == 1  # one test, never restarted
    # Every record of the channel stored exactly once, the ones from before the kill unchanged.
    assert np.array_equal(after["record_index"], np.arange(1, logged["records"] + 1))
    assert_kept(before, after)
    assert np.all(np.diff(after["charge_capacity_Ah"]) >= 0)
    assert np.all(np.diff(after["discharge_capacity_Ah"]) >= 0)
    # The step that was running was followed on, not started again.
    counts = [s.step_count for s in store.steps(run.id)]
    assert counts == sorted(set(counts))
    reattached = [e for e in events if e.kind == "reattach"]
    last = int(before["record_index"].max())
    assert reattached and f"after record {last}" in reattached[0].message
    assert "interrupted" in [e.kind for e in events]
