"""`kill -9` of the daemon during a run, with the simulators in their own process, then a
restart: no committed sample is lost, the counters are continuous, the run finishes, the
interruption is an event, and the step that was running on the EmStat4 kept running during
the outage and its samples were fetched."""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest
from daemon_process import assert_kept, lab, wait_for
from shared_protocols import charge_then_rest
from simbench_process import EXAMPLES, port_zero

from scheduler import queue

TIME_SCALE = 600.0
PROTOCOL = charge_then_rest("long-charge")


@pytest.mark.slow
def test_kill_9_and_restart_loses_nothing_and_reattaches(tmp_path) -> None:
    text = port_zero((EXAMPLES / "sim-bench-small.toml").read_text(), time_scale=TIME_SCALE)
    with lab(text, tmp_path) as the_lab:
        store, bench = the_lab.store, the_lab.bench
        store.add_cell("c1", active_mass_g=0.0204, area_cm2=1.131, specific_capacity_mAh_g=200)
        job_id = queue.submit(
            store, bench, protocol_path_or_text=PROTOCOL, cell_name="c1", by="technician"
        )
        daemon = the_lab.start_daemon("first")
        run = wait_for(lambda: store.latest_run_for_job(job_id), 30, "the run", daemon)
        # About 20 simulated minutes into the 2 h charge, kill the daemon without warning.
        wait_for(lambda: store.sample_count(run.id) >= 120, 60, "samples", daemon)
        daemon.process.send_signal(signal.SIGKILL)
        daemon.process.wait()
        before = store.read_samples(run.id)
        killed_at = before["test_time_s"].max()
        outage_wall_s = 3.0
        time.sleep(outage_wall_s)  # the instrument keeps charging the cell meanwhile

        daemon = the_lab.restart_to_completion(job_id)
        assert store.get_run(run.id).status == "completed"
        after = store.read_samples(run.id)

    # No committed sample lost: every sample stored before the kill is still there, unchanged.
    assert_kept(before, after)
    # Counters continue: one record sequence, time and cumulative charge never run backwards.
    assert np.array_equal(after["record_index"], np.arange(1, len(after["record_index"]) + 1))
    assert np.all(np.diff(after["charge_capacity_Ah"]) >= 0)
    assert set(np.unique(after["step_count"])) == {1, 2}  # the charge was not run twice
    # The charge kept running on the instrument: samples from inside the outage were fetched.
    outage_sim_s = outage_wall_s * TIME_SCALE
    during = (after["test_time_s"] > killed_at) & (after["test_time_s"] < killed_at + outage_sim_s)
    assert during.sum() >= 0.5 * outage_sim_s / 10.0
    steps = store.steps(run.id)
    assert steps[0].end_reason.startswith("limit") and "4.3" in steps[0].end_reason
    kinds = [e.kind for e in store.events(run.id)]
    assert "interrupted" in kinds
    resumed = [e for e in store.events(run.id) if e.kind == "resumed"]
    assert resumed and "re-attached" in resumed[0].message
