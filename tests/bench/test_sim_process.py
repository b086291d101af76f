"""`cellbench sim --bench` as a separate process, reached over real TCP: `bench check`
identifies every instrument, a slot opened with `open_slot` runs a rest and a CC step
through the Runner, injected faults show through the drivers, and SIGTERM stops it."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import numpy as np
import pytest
from simbench_process import (
    EXAMPLES,
    TEST_TIME_SCALE,
    SimProcess,
    cellbench,
    control,
    port_zero,
    start_sim,
    stop_sim,
)

import protocols
from scheduler.bench import Bench
from scheduler.binding import CellInfo
from scheduler.instruments import InstrumentPool, open_slot
from scheduler.session import run_protocol
from storage import open_store

SHORT_PROTOCOL = """
name: bench-smoke
description: a rest, then a constant-current charge
parameters: {one_c: 200 mA/g}
c_rate_basis: ${one_c}
record: {dt: 10 s}
safety: {voltage_min: 2.0 V, voltage_max: 4.5 V, abs_current_max: 2C}
steps:
  - rest: {duration: 2 min}
  - cc: {rate: 0.5C, direction: charge, until: [{step_time: ">= 10 min"}, "voltage >= 4.3 V"]}
"""


def test_bench_check_identifies_every_instrument_of_the_sim_process(sim_bench) -> None:
    result = cellbench("bench", "check", str(sim_bench.resolved), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    rows = {row["name"]: row for row in report["instruments"]}
    instruments = {f"pstat{i}" for i in range(1, 7)} | {"chamberA", "chamberB", "press1"}
    assert set(rows) == instruments | {"bts1"}
    assert all(row["ok"] for row in rows.values()), rows
    serials = {rows[f"pstat{i}"]["identity"]["serial"] for i in range(1, 7)}
    assert len(serials) == 6  # six distinct simulated EmStat4s, not one answering six times
    for i in range(1, 7):
        identity = rows[f"pstat{i}"]["identity"]
        assert (identity["vendor"], identity["model"]) == ("PalmSens", "EmStat4 HR")
    for chamber in ("chamberA", "chamberB"):  # both hold the 25 °C start in CONSTANT mode
        assert "air 25." in rows[chamber]["reading"] or "air 24." in rows[chamber]["reading"]
        assert "CONSTANT" in rows[chamber]["reading"]
    assert "force" in rows["press1"]["reading"]
    assert rows["bts1"]["identity"]["vendor"] == "Neware"
    # Every connection the check made is logged by the sim process, one line each.
    time.sleep(0.5)
    assert "pstat6: host connected" in sim_bench.stderr()


async def test_a_slot_opened_on_the_sim_process_runs_rest_and_cc(sim_bench, tmp_path) -> None:
    bench = Bench.load(sim_bench.resolved)
    path = tmp_path / "smoke.yaml"
    path.write_text(SHORT_PROTOCOL)
    protocol = protocols.load(path)
    store = open_store(f"sqlite:///{tmp_path}/bench.db")
    pool = InstrumentPool(bench)
    a1 = await open_slot(bench, "A1", pool=pool)
    a2 = await open_slot(bench, "A2", pool=pool)
    try:
        # A1 and A2 sit in chamberA: one chamber driver, opened once, shared.
        assert a1.environment.chamber is a2.environment.chamber is not None
        assert a1.potentiostat is not a2.potentiostat
        assert a1.environment.clock.time_scale == TEST_TIME_SCALE
        cell = CellInfo("A1 gao2025", active_mass_g=0.01, specific_capacity_mAh_g=200.0)
        run_id, result = await run_protocol(
            store,
            protocol,
            cell,
            a1.potentiostat,
            slot="A1",
            bench=bench.name,
            bench_text=bench.source_text,
            environment=a1.environment,
        )
    finally:
        await a1.close()
        await a2.close()
    assert not pool.is_open("chamberA")  # the last slot let go of it
    assert result.status == "completed", result.message
    samples = store.read_samples(run_id)
    current = samples["current_A"]
    rest, charge = current == 0, current > 0
    assert rest.any() and charge.any()
    one_c_A = 0.01 * 0.2  # 10 mg at 200 mA/g
    assert np.allclose(current[charge], 0.5 * one_c_A, rtol=0.01)
    voltage = samples["voltage_V"]
    assert voltage[charge][-1] > voltage[rest][-1] + 0.05  # charging raised the voltage
    temperature = samples["temperature_degC"]
    assert np.all(np.abs(temperature - 25.0) < 1.0)  # chamberA's air, from the first sample
    run = store.get_run(run_id)
    assert run.bench == bench.name and "chamberA" in run.bench_text


async def test_chamber_overshoot_through_the_control_endpoint(sim_bench) -> None:
    from drivers.chambers.espec import EspecChamber

    bench = Bench.load(sim_bench.resolved)
    answer = await control(bench, {"instrument": "chamberB", "fault": "overshoot", "value": 6})
    assert answer == {"ok": True, "instrument": "chamberB", "fault": "overshoot"}
    chamber = EspecChamber(bench.instrument("chamberB").endpoint, name="chamberB")
    await chamber.open()
    try:
        deadline = time.monotonic() + 15
        reading = await chamber.read()
        while reading.process_degC < 29.0 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            reading = await chamber.read()
        # The controller runs away ~6 K above its unchanged 25 °C setpoint.
        assert reading.setpoint_degC == pytest.approx(25.0, abs=0.1)
        assert reading.process_degC >= 29.0  # 4 K over: past the 3 K an Environment allows
        state = (await control(bench, {"query": "state"}))["state"]
        assert state["chambers"]["chamberB"]["faults"]["overshoot_K"] == 6
        assert state["chambers"]["chamberA"]["air_degC"] == pytest.approx(25.0, abs=1.0)
    finally:
        await control(bench, {"instrument": "chamberB", "fault": "clear"})
        await chamber.close()
    wrong = await control(bench, {"instrument": "chamberB", "fault": "meltdown"})
    assert wrong["ok"] is False
    assert "meltdown" in wrong["error"] and "heater-failure" in wrong["error"]
    missing = await control(bench, {"slot": "Z9", "fault": "open"})
    assert missing["ok"] is False and "A1" in missing["error"]


def test_sigterm_stops_the_sim_process_cleanly(tmp_path) -> None:
    text = port_zero((EXAMPLES / "sim-bench-small.toml").read_text())
    sim: SimProcess = start_sim(text, tmp_path)
    try:
        started = time.monotonic()
        sim.process.send_signal(signal.SIGTERM)
        code = sim.process.wait(10)
        assert code == 0, sim.stderr()
        assert time.monotonic() - started < 5.0
        assert not sim.resolved.exists()  # its ports are gone, so is the file naming them
        assert "Traceback" not in sim.stderr()
    finally:
        stop_sim(sim)
