"""Outages around the daemon: the MQTT broker dies mid-run and comes back on the same port,
and an EmStat4 drops its connection mid-step. Neither loses a stored sample; telemetry
resumes (saying what it dropped) and the potentiostat is re-attached, as an event.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from daemon_bench import add_cells, long_charge, six_slot_bench
from daemon_process import lab, until
from mqtt_support import Mosquitto, Recorder
from simbench_process import control

from scheduler import queue

MINUTES = 300  # of simulated charge on each slot
DT_S = 10.0


def assert_complete_record(samples: dict[str, np.ndarray]) -> None:
    """Every sample of an uninterrupted 300 min charge at one point per 10 s is stored."""
    records = samples["record_index"]
    assert np.array_equal(records, np.arange(1, len(records) + 1))
    steps = np.diff(samples["test_time_s"])
    assert steps.min() > 0 and steps.max() <= DT_S * 1.05, (steps.min(), steps.max())
    assert len(records) >= MINUTES * 60 / DT_S - 2


@pytest.mark.slow
async def test_broker_outage_and_instrument_drop_lose_no_data(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    name = "outage-bench"
    telemetry = {"broker": broker.url, "buffer": 4, "reconnect_min_s": 0.2, "reconnect_max_s": 0.5}
    try:
        with lab(
            six_slot_bench(name=name, time_scale=1000.0, telemetry=telemetry), tmp_path
        ) as the_lab:
            store, bench = the_lab.store, the_lab.bench
            add_cells(store, ["a", "b"])
            protocol = long_charge(MINUTES, rate="0.05C", dt_s=DT_S)
            jobs = {
                slot: queue.submit(
                    store, bench, protocol_path_or_text=protocol, cell_name=cell, slot=slot, by="t"
                )
                for slot, cell in (("A1", "a"), ("B1", "b"))
            }
            async with Recorder("127.0.0.1", broker.port, f"cellbench/v1/{name}/#") as recorder:
                daemon = the_lab.start_daemon()

                def data(slot: str, since: int = 0) -> list[dict[str, Any]]:
                    topic = f"/slot/{slot}/data"
                    return [m.data for m in recorder.messages[since:] if m.topic.endswith(topic)]

                await until(lambda: len(data("A1")) >= 2, 30, "live data", daemon)
                runs = {s: store.latest_run_for_job(j).id for s, j in jobs.items()}

                # The broker dies (SIGKILL) and stays away for 3 s while the runs go on.
                assert broker.proc is not None
                broker.proc.kill()
                broker.proc.wait()
                broker.proc = None
                stored_before = store.sample_count(runs["A1"])
                await asyncio.sleep(3.0)
                assert store.sample_count(runs["A1"]) > stored_before + 200  # storing went on
                # Meanwhile the EmStat4 of B1 drops its connection mid-step.
                assert (await control(bench, {"instrument": "pstat5", "fault": "drop"}))["ok"]
                seen = len(recorder.messages)
                broker.start()  # the same port

                last_before = max(d["record_index"] for d in data("A1"))
                fresh = await until(
                    lambda: [d for d in data("A1", seen) if d["record_index"] > last_before],
                    20,
                    "live data after the broker came back",
                    daemon,
                )
                dropped = await until(
                    lambda: recorder.events("telemetry_dropped"), 10, "the drop report", daemon
                )
                await until(
                    lambda: all(store.get_job(j).state == "completed" for j in jobs.values()),
                    60,
                    "both runs to complete",
                    daemon,
                )
    finally:
        broker.stop()
        broker.stop()

    # Live data resumed from where the runs had got to, and the gap was reported.
    assert fresh[0]["job"] == jobs["A1"] and fresh[0]["voltage_V"] > 3.0
    assert dropped[0]["samples"] >= 1
    # The database kept every sample of both runs through both outages.
    for slot in ("A1", "B1"):
        assert store.get_run(runs[slot]).status == "completed"
        assert_complete_record(store.read_samples(runs[slot]))
    # The dropped EmStat4 was re-attached mid-step, and that is an event of its run.
    events = store.events(runs["B1"])
    reattached = [e for e in events if e.kind == "reattach"]
    assert reattached and reattached[0].data["step_count"] == 1
    assert not [e for e in events if e.kind == "gap"]
    assert len(store.steps(runs["B1"])) == 1  # the charge was not started again
