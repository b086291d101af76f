"""Store API on both engines: cells, protocols, runs with provenance, steps, samples, spectra."""

from __future__ import annotations

import hashlib
import threading
import time

import numpy as np
import pytest

from storage import SAMPLE_COLUMNS, StorageError, Store, open_store


def _run(store: Store, **kw) -> int:
    cell = store.add_cell("NCM811-A1", active_mass_g=0.0123, specific_capacity_mAh_g=200.0)
    proto = store.add_protocol("gitt", "name: gitt\nsteps: []\n")
    return store.start_run(cell_id=cell, protocol_id=proto, slot="ch1", **kw)


def test_add_cell_upserts_by_name(store: Store) -> None:
    first = store.add_cell("C1", chemistry="NCM811", active_mass_g=0.010)
    again = store.add_cell("C1", specific_capacity_mAh_g=200.0, extra={"batch": 7})
    assert first == again
    cell = store.get_cell("C1")
    assert cell.chemistry == "NCM811"  # kept: not given the second time
    assert cell.active_mass_g == pytest.approx(0.010)
    assert cell.specific_capacity_mAh_g == pytest.approx(200.0)
    assert cell.extra == {"batch": 7}
    assert store.get_cell(first).name == "C1"
    assert store.get_cell(str(first)).name == "C1"
    store.add_cell("B2")
    assert [c.name for c in store.list_cells()] == ["B2", "C1"]


def test_cell_errors_are_one_sentence_naming_the_database(store: Store) -> None:
    with pytest.raises(StorageError) as err:
        store.get_cell("nope")
    assert "nope" in str(err.value) and store.name in str(err.value)
    with pytest.raises(StorageError, match="active_mass_g must be a positive number"):
        store.add_cell("bad", active_mass_g=-1.0)
    with pytest.raises(StorageError, match="non-empty name"):
        store.add_cell("  ")


def test_protocols_deduplicate_by_sha256(store: Store) -> None:
    text = "steps:\n  - rest: 10 min\n"
    a = store.add_protocol("rest", text)
    b = store.add_protocol("rest again", text)
    c = store.add_protocol("rest", text + "# changed\n")
    assert a == b != c
    proto = store.get_protocol(a)
    assert proto.source_text == text
    assert proto.sha256 == hashlib.sha256(text.encode()).hexdigest()


def test_run_records_its_provenance(store: Store) -> None:
    instruments = [
        {
            "name": "pstat",
            "kind": "potentiostat",
            "vendor": "PalmSens",
            "model": "EmStat4",
            "serial": "ES4-001",
            "firmware": "1.3.2",
            "endpoint": "/dev/ttyUSB0",
        },
        {
            "name": "chamber",
            "kind": "temperature",
            "vendor": "ESPEC",
            "model": "SU-242",
            "serial": "77",
            "firmware": "P-300 2.1",
        },
    ]
    run_id = _run(
        store,
        bench="bench-a",
        bench_text='[slots.ch1]\npotentiostat = "pstat"\n',
        instruments=instruments,
        capacity_basis="0.0123 g x 200 mAh/g = 2.46 mAh",
        software_version="0.1.0",
        metadata={"operator": "kim", "nan": float("nan")},
    )
    run = store.get_run(run_id)
    assert run.status == "running" and run.ended_at is None
    assert run.bench_text.startswith("[slots.ch1]")
    assert run.capacity_basis.endswith("2.46 mAh")
    assert run.software_version == "0.1.0"
    assert [i["firmware"] for i in run.instruments] == ["1.3.2", "P-300 2.1"]
    assert run.meta == {"operator": "kim", "nan": None}
    assert run.host
    cell = store.get_cell(run.cell_id)
    assert cell.name == "NCM811-A1"
    assert "steps" in store.get_protocol(run.protocol_id).source_text
    # A firmware update shows on the instrument's row; the old run keeps what it ran with.
    instruments[0]["firmware"] = "1.4.0"
    _run(store, instruments=instruments[:1])
    by_serial = {i.serial: i for i in store.list_instruments()}
    assert len(by_serial) == 2 and by_serial["ES4-001"].firmware == "1.4.0"
    assert store.get_run(run_id).instruments[0]["firmware"] == "1.3.2"


def test_finish_and_list_runs(store: Store) -> None:
    a = _run(store)
    b = _run(store)
    store.finish_run(a, "completed", "end of protocol")
    store.finish_run(b, "failed", "safety limit V > 4.4 V")
    runs = store.list_runs()
    assert [r.id for r in runs] == [a, b]
    assert runs[0].status == "completed" and runs[0].ended_at >= runs[0].started_at
    assert [r.id for r in store.list_runs(status="failed")] == [b]
    assert [r.id for r in store.list_runs(limit=1)] == [b]
    with pytest.raises(StorageError, match="no run 999"):
        store.finish_run(999, "completed")


def test_samples_round_trip_in_record_order(store: Store) -> None:
    run_id = _run(store)
    n = 2500
    t = np.arange(n) * 0.5
    v = 3.0 + 1.2 * t / t[-1]
    with store.open_writer(run_id) as writer:
        writer.append(
            {
                "test_time_s": t[:1000],
                "voltage_V": v[:1000],
                "current_A": 2.46e-3,
                "cycle": 1,
                "step_count": 3,
                "step_index": 2,
            }
        )
        writer.append(
            {
                "test_time_s": t[1000:],
                "voltage_V": v[1000:],
                "current_A": -2.46e-3,
                "cycle": 1,
                "step_count": 4,
                "step_index": 3,
            }
        )
        assert writer.flush() == n
        writer.append_row(test_time_s=1250.0, voltage_V=3.0, current_A=0.0, cycle=2)
    assert store.sample_count(run_id) == n + 1
    data = store.read_samples(run_id)
    assert list(data) == list(SAMPLE_COLUMNS)
    for key, (_, dtype) in SAMPLE_COLUMNS.items():
        assert data[key].dtype == dtype and len(data[key]) == n + 1
    np.testing.assert_array_equal(data["record_index"], np.arange(1, n + 2))
    np.testing.assert_array_equal(data["test_time_s"][:n], t)
    np.testing.assert_array_equal(data["voltage_V"][:n], v)
    assert (data["current_A"][:1000] > 0).all() and (data["current_A"][1000:n] < 0).all()
    assert data["step_count"][999] == 3 and data["step_count"][1000] == 4
    assert data["cycle"][-1] == 2
    assert np.isnan(data["temperature_degC"]).all() and np.isnan(data["unix_time_s"]).all()
    # A later writer (a resumed run) continues the numbering.
    with store.open_writer(run_id) as writer:
        writer.append({"test_time_s": [1300.0, 1301.0]})
    assert store.read_samples(run_id, ["record_index"])["record_index"][-2:].tolist() == [
        n + 2,
        n + 3,
    ]


def test_read_samples_sorts_by_given_record_index(store: Store) -> None:
    run_id = _run(store)
    with store.open_writer(run_id) as writer:
        writer.append({"record_index": [10, 11, 12], "voltage_V": [3.10, 3.11, 3.12]})
        writer.flush()
        # Samples fetched later from the instrument's buffer arrive after newer ones.
        writer.append({"record_index": [7, 8, 9], "voltage_V": [3.07, 3.08, 3.09]})
    data = store.read_samples(run_id, ["record_index", "voltage_V"])
    assert data["record_index"].tolist() == list(range(7, 13))
    np.testing.assert_allclose(data["voltage_V"], 3.0 + data["record_index"] / 100)


def test_empty_run_reads_every_column_empty(store: Store) -> None:
    data = store.read_samples(_run(store))
    assert list(data) == list(SAMPLE_COLUMNS) and all(len(v) == 0 for v in data.values())


def test_writer_flushes_within_a_second_and_another_reader_sees_it(store: Store) -> None:
    run_id = _run(store)
    writer = store.open_writer(run_id)
    writer.append({"test_time_s": np.arange(100.0), "voltage_V": np.full(100, 3.7)})
    deadline = time.monotonic() + 1.5
    while writer.acknowledged < 100 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert writer.acknowledged == 100
    reader = open_store(store.url)  # e.g. the CLI while the daemon writes
    try:
        assert reader.sample_count(run_id) == 100
        assert float(reader.read_samples(run_id)["voltage_V"].mean()) == pytest.approx(3.7)
    finally:
        reader.close()
        writer.close()


def test_append_never_waits_for_the_database(store: Store) -> None:
    run_id = _run(store)
    writer = store.open_writer(run_id)
    from storage.engine import WRITE_OPTION

    blocker = store.engine.execution_options(**{WRITE_OPTION: True}).connect()
    blocker.begin()  # on SQLite: BEGIN IMMEDIATE, holding the write lock
    if store.dialect == "postgresql":
        blocker.exec_driver_sql("LOCK TABLE measurement_chunks IN ACCESS EXCLUSIVE MODE")
    try:
        writer.append({"voltage_V": [3.0]})
        time.sleep(0.7)  # the flusher is now blocked on the lock
        started = time.perf_counter()
        for _ in range(100):
            writer.append({"voltage_V": np.full(100, 3.5)})
        assert time.perf_counter() - started < 0.2
        assert writer.acknowledged == 0
    finally:
        blocker.rollback()
        blocker.close()
    assert writer.flush() == 10_001
    writer.close()


def test_writer_refuses_bad_columns(store: Store) -> None:
    writer = store.open_writer(_run(store))
    with pytest.raises(StorageError, match="Unknown sample column 'volts'"):
        writer.append({"volts": [1.0]})
    with pytest.raises(StorageError, match="different lengths"):
        writer.append({"voltage_V": [1.0, 2.0], "current_A": [1.0]})
    with pytest.raises(StorageError, match="not numbers"):
        writer.append({"voltage_V": ["high"]})
    assert writer.close() == 0
    with pytest.raises(StorageError, match="closed"):
        writer.append({"voltage_V": [1.0]})


def test_writer_is_thread_safe(store: Store) -> None:
    run_id = _run(store)
    writer = store.open_writer(run_id, flush_interval_s=0.05)

    def produce(k: int) -> None:
        for i in range(50):
            writer.append({"test_time_s": np.full(20, k * 1000.0 + i)})

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert writer.close() == 4 * 50 * 20
    rec = store.read_samples(run_id, ["record_index"])["record_index"]
    np.testing.assert_array_equal(rec, np.arange(1, 4001))


def test_steps_journal_and_records(store: Store) -> None:
    run_id = _run(store)
    store.start_step(
        run_id, step_count=1, step_index=0, kind="rest", label="OCV 1 h", started_at_s=0.0, cycle=0
    )
    journaled = store.steps(run_id)
    assert journaled[0].end_reason is None and journaled[0].ended_at_s is None
    store.end_step(run_id, 1, ended_at_s=3600.0, end_reason="time", data={"ocv_V": 3.61})
    store.record_step(
        run_id,
        step_count=2,
        step_index=1,
        kind="cc",
        label="charge C/10",
        started_at_s=3600.0,
        ended_at_s=39600.0,
        end_reason="voltage >= 4.3 V",
        cycle=1,
        charge_Ah=2.41e-3,
    )
    steps = store.steps(run_id)
    assert [(s.step_count, s.end_reason) for s in steps] == [(1, "time"), (2, "voltage >= 4.3 V")]
    assert steps[0].data == {"ocv_V": 3.61}
    assert steps[1].ended_at_s - steps[1].started_at_s == pytest.approx(36000.0)
    assert steps[1].charge_Ah == pytest.approx(2.41e-3) and steps[1].discharge_Ah == 0.0
    with pytest.raises(StorageError, match="no step 9"):
        store.end_step(run_id, 9, ended_at_s=1.0, end_reason="time")


def test_spectra_keep_sign_and_order(store: Store) -> None:
    run_id = _run(store)
    f = np.logspace(5, -1, 31)
    w = 2 * np.pi * f
    z = 5.0 + 20.0 / (1 + 1j * w * 20.0 * 1e-5)  # R0 + R||C: capacitive, Im(Z) < 0
    sid = store.add_spectrum(
        run_id,
        step_count=4,
        frequency_Hz=f,
        z_real_ohm=z.real,
        z_imag_ohm=z.imag,
        temperature_degC=25.0,
    )
    [spec] = store.spectra(run_id)
    assert spec.id == sid and spec.n_points == 31 and spec.temperature_degC == 25.0
    np.testing.assert_allclose(spec.frequency_Hz, f)
    assert max(spec.z_imag_ohm) < 0
    # The high-frequency intercept is R0 and the low-frequency one R0 + R1.
    assert spec.z_real_ohm[0] == pytest.approx(5.0, abs=0.01)
    assert spec.z_real_ohm[-1] == pytest.approx(25.0, abs=0.01)
    with pytest.raises(StorageError, match="31 frequencies but 30 real"):
        store.add_spectrum(
            run_id, step_count=5, frequency_Hz=f, z_real_ohm=z.real[:30], z_imag_ohm=z.imag
        )


def test_events_and_analyses(store: Store) -> None:
    run_id = _run(store)
    store.add_event("reconnect", "pstat reconnected after 2 s", run_id=run_id)
    store.add_event(
        "safety_trip",
        "chamber over 60 degC",
        run_id=run_id,
        severity="alarm",
        data={"T_degC": np.float64(61.2)},
    )
    store.add_event("operator", "bench started")
    assert [e.kind for e in store.events(run_id)] == ["reconnect", "safety_trip"]
    assert len(store.events()) == 3
    assert store.events(run_id)[1].data == {"T_degC": 61.2}
    store.add_analysis(run_id, "cycle_summary", {"retention": [1.0, 0.99], "ce": float("inf")})
    [a] = store.analyses(run_id, "cycle_summary")
    assert a.result == {"retention": [1.0, 0.99], "ce": None}


def test_jobs_keep_their_history(store: Store) -> None:
    cell = store.add_cell("J1")
    proto = store.add_protocol("p", "steps: []")
    low = store.add_job(protocol_id=proto, cell_id=cell, submitted_by="kim")
    high = store.add_job(protocol_id=proto, cell_id=cell, priority=5, slot="ch2")
    assert [j.id for j in store.list_jobs()] == [high, low]
    store.set_job_state(low, "held", by="lee", note="waiting for cells")
    store.set_job_state(low, "queued", by="lee", expect="held")
    with pytest.raises(StorageError, match="is queued, not held"):
        store.set_job_state(low, "queued", expect="held")
    history = store.job_history(low)
    assert [(h.from_state, h.to_state, h.by) for h in history] == [
        (None, "queued", "kim"),
        ("queued", "held", "lee"),
        ("held", "queued", "lee"),
    ]
    assert [j.id for j in store.list_jobs(["queued"])] == [high, low]


def test_url_resolution(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CELLBENCH_DB", raising=False)
    with open_store() as s:
        assert s.name == str(tmp_path / "xdg" / "cellbench" / "cellbench.db")
        assert s.engine.dialect.name == "sqlite"
        mode = s.engine.connect().exec_driver_sql("PRAGMA journal_mode").scalar()
        assert mode == "wal"
    monkeypatch.setenv("CELLBENCH_DB", f"sqlite:///{tmp_path / 'env.db'}")
    with open_store() as s:
        assert s.name == str(tmp_path / "env.db")
    with pytest.raises(StorageError, match="supports sqlite"):
        open_store("mysql://x/y")
    with pytest.raises(StorageError, match="not valid"):
        open_store("::nonsense::")


def test_postgres_url_uses_psycopg3() -> None:
    from storage.engine import parse_url

    assert parse_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert parse_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert parse_url("sqlite:///x.db").drivername == "sqlite"
