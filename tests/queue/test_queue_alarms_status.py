"""Latched alarms with acknowledgement, and the live slot status."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from queue_fixtures import claim_next

from scheduler import queue
from storage import Store


def test_ack_clears_a_latched_alarm_and_records_who(cli, store: Store) -> None:
    store.add_event("reconnect", "pstat1 reconnected", bench="test-bench", slot="A1")
    trip = store.add_event(
        "over_temperature",
        "chamberA at 91 °C > 80 °C",
        severity="alarm",
        bench="test-bench",
        slot="A1",
    )
    other = store.add_event(
        "pressure_loss", "press1 lost 3 MPa", severity="alarm", bench="bench-2", slot="P1"
    )
    assert [a.id for a in queue.active_alarms(store)] == [trip, other]
    assert [a.id for a in queue.active_alarms(store, "test-bench")] == [trip]
    code, out, err = cli("status", "--json")
    data = json.loads(out)
    assert [a["id"] for a in data["alarms"]] == [trip, other]

    t0 = time.time()
    code, out, err = cli("ack", str(trip), "--by", "lee", "--json")
    assert code == 0, err
    assert [a["id"] for a in json.loads(out)["acknowledged"]] == [trip]
    event = store.get_event(trip)
    assert event.acked_by == "lee" and t0 <= event.acked_at <= time.time()
    assert [a.id for a in queue.active_alarms(store)] == [other]  # still latched
    code, out, err = cli("ack", str(trip), "--by", "kim")
    assert code == 0 and "already acknowledged by lee" in out
    assert store.get_event(trip).acked_by == "lee"  # the first acknowledgement stands

    code, out, err = cli("ack", "--all", "--by", "ana", "--json")
    assert [a["id"] for a in json.loads(out)["acknowledged"]] == [other]
    assert queue.active_alarms(store) == []
    assert store.get_event(other).acked_by == "ana"


def test_ack_errors_are_one_sentence(cli, store: Store) -> None:
    info = store.add_event("reconnect", "pstat1 reconnected")
    for args, expected in [
        (("ack", "999"), "There is no alarm 999"),
        (("ack", str(info)), f"There is no alarm {info}"),
        (("ack", "1", "--all"), "not both"),
    ]:
        code, _out, err = cli(*args)
        lines = err.strip().splitlines()
        assert code != 0 and len(lines) == 1 and expected in lines[0], err


def test_alarm_of_a_run_belongs_to_the_run_s_bench(store: Store) -> None:
    run = store.start_run(cell_id=None, protocol_id=None, slot="A2", bench="test-bench")
    alarm = store.add_event("voltage_trip", "4.7 V > 4.6 V", severity="alarm", run_id=run)
    assert [a.id for a in queue.active_alarms(store, "test-bench")] == [alarm]
    assert queue.active_alarms(store, "bench-2") == []
    assert [a.id for a in queue.ack(store, "all", by="lee", bench="bench-2")] == []
    assert [a.id for a in queue.ack(store, "all", by="lee", bench="test-bench")] == [alarm]


def test_status_merges_run_steps_samples_and_slot_state(cli, store: Store, bench, submit) -> None:
    job = submit("cycle", slot="A2")
    claim_next(store, "A2", bench_name="test-bench", daemon="pc-1")
    run = store.start_run(
        cell_id=store.get_cell("C1").id, protocol_id=None, slot="A2", bench="test-bench", job_id=job
    )
    # the run is in its third step, the 0.5C discharge of cycle 1
    discharge = {"kind": "ConstantCurrent", "label": "cc discharge 0.5C", "cycle": 1}
    store.start_step(run, step_count=3, step_index=1, started_at_s=100.0, **discharge)
    n = 50
    store.write_samples(
        run,
        {
            "test_time_s": np.arange(n, dtype=float),
            "voltage_V": np.linspace(4.2, 3.7, n),
            "current_A": np.full(n, -1.2e-3),
            "cycle": np.full(n, 1),
            "temperature_degC": np.full(n, 25.0),
        },
    )
    code, out, err = cli("status", "--json")
    assert code == 0, err
    [row] = json.loads(out)["slots"]
    assert (row["slot"], row["job"], row["run"], row["state"]) == ("A2", job, run, "running")
    assert row["protocol"] == "short-cycle" and row["cell"] == "C1"
    assert row["step"] == "cc discharge 0.5C" and row["step_index"] == 1 and row["cycle"] == 1
    assert row["voltage_V"] == pytest.approx(3.7) and row["current_A"] == pytest.approx(-1.2e-3)
    assert row["temperature_degC"] == pytest.approx(25.0)
    assert 0.0 <= row["progress"] < 0.01  # just started on an 8 h estimate
    # The daemon's own report takes over (newer values, its progress).
    store.upsert_slot_state(
        "test-bench",
        "A2",
        state="running",
        job_id=job,
        run_id=run,
        voltage_V=3.65,
        progress=0.5,
        step_label="rest",
        step_index=2,
    )
    store.upsert_slot_state("test-bench", "B2", state="idle")
    code, out, err = cli("status", "--json")
    rows = {r["slot"]: r for r in json.loads(out)["slots"]}
    assert rows["A2"]["voltage_V"] == pytest.approx(3.65) and rows["A2"]["progress"] == 0.5
    assert rows["A2"]["step"] == "rest" and rows["A2"]["current_A"] == pytest.approx(-1.2e-3)
    assert rows["B2"]["state"] == "idle" and rows["B2"]["job"] is None
    code, out, err = cli("status")
    assert code == 0 and "short-cycle" in out and "50 %" in out


def test_slot_state_upsert_keeps_unspecified_fields(store: Store) -> None:
    store.upsert_slot_state("b", "S1", state="running", voltage_V=3.9, cycle=4)
    store.upsert_slot_state("b", "S1", voltage_V=float("nan"), current_A=np.float64(1e-3))
    [s] = store.slot_states("b")
    assert (s.state, s.cycle, s.voltage_V, s.current_A) == ("running", 4, None, 1e-3)
    from storage import StorageError

    with pytest.raises(StorageError, match="no field 'volts'"):
        store.upsert_slot_state("b", "S1", volts=3.0)


def test_status_watch_refreshes_until_interrupted(cli, store: Store, monkeypatch) -> None:
    import scheduler.cli.status_cmd as status_cmd

    sleeps: list[float] = []

    def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 1:  # between the two refreshes, the daemon reports a new voltage
            store.upsert_slot_state("test-bench", "A2", state="running", voltage_V=3.8)
        else:
            raise KeyboardInterrupt

    store.upsert_slot_state("test-bench", "A2", state="running", voltage_V=3.7)
    monkeypatch.setattr(status_cmd.time, "sleep", fake_sleep)
    code, out, err = cli("status", "--watch", "--json", "--interval", "0.5")
    assert code == 0, err
    frames = [json.loads(line) for line in out.splitlines()]
    assert [f["slots"][0]["voltage_V"] for f in frames] == [3.7, 3.8]
    assert sleeps == [0.5, 0.5]
