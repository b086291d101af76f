"""The bench simulation in-process, for what the example bench does not cover: serial paths
(a pty linked to the path), Keithley 2450 and Watlow F4T instruments, cell and rig faults
seen through the real drivers, and benches a simulation cannot serve."""

from __future__ import annotations

import asyncio
import time

import pytest

from drivers.potentiostat import StepCommand, StepEnd
from drivers.pressure import GasLeakError
from scheduler.bench import Bench
from scheduler.cli.bench_cmd import check_bench
from scheduler.errors import SchedulerError
from scheduler.instruments import InstrumentPool, open_slot
from scheduler.sim.server import FAULTS, BenchSimulation

TEXT = """
[bench]
name = "mixed"

[instruments.pstat1]
kind = "emstat4"
endpoint = "{tmp}/ttyPSTAT1"

[instruments.smu]
kind = "keithley2450"
endpoint = "TCPIP0::127.0.0.1::0::SOCKET"

[instruments.f4t]
kind = "watlow-f4t"
endpoint = "127.0.0.1:0"

[instruments.press1]
kind = "pressure-rig"
controller = "{tmp}/ttyALICAT"
gauge = "tcp://127.0.0.1:0"
piston_area_mm2 = 1963.5
friction_N = 15.0
period_s = 5.0

[[slots]]
name = "S1"
potentiostat = "pstat1"
chamber = "f4t"
rig = "press1"
cell_area_mm2 = 78.5

[[slots]]
name = "S2"
potentiostat = "smu"

[simulation]
time_scale = 2000.0
control = "tcp://127.0.0.1:0"
[simulation.cells]
S1 = {{ preset = "kim2025-model4-85wt", soc = 0.5 }}
"""


@pytest.fixture
async def simulation(tmp_path):
    bench = Bench.from_text(TEXT.format(tmp=tmp_path), free_ports=True)
    simulation = BenchSimulation(bench)
    await simulation.start()
    try:
        yield simulation, Bench.from_text(simulation.resolved_text())
    finally:
        await simulation.stop()
    assert not (tmp_path / "ttyPSTAT1").exists()  # the links go with the simulation


async def test_serial_paths_keithley_and_watlow_are_served_and_identified(
    simulation, tmp_path
) -> None:
    _, bench = simulation
    assert (tmp_path / "ttyPSTAT1").resolve().as_posix().startswith("/dev/pts/")
    assert bench.instrument("pstat1").endpoint == f"{tmp_path}/ttyPSTAT1"  # paths stay
    assert not bench.instrument("smu").endpoint.endswith("::0::SOCKET")  # ports resolved
    rows = {row["name"]: row for row in await check_bench(bench, 5.0)}
    assert all(row["ok"] for row in rows.values()), rows
    assert rows["smu"]["identity"]["model"] == "2450"
    assert rows["pstat1"]["identity"]["model"] == "EmStat4 HR"
    assert "air 25.0 °C" in rows["f4t"]["reading"]


async def test_a_shorted_cell_reads_near_zero_volts_through_the_emstat4(simulation) -> None:
    sim, bench = simulation
    pool = InstrumentPool(bench)
    slot = await open_slot(bench, "S1", pool=pool)
    try:
        command = StepCommand("cc", duration_s=60.0, current_A=1e-4, sample_interval_s=10.0)
        before = [i async for i in slot.potentiostat.run(command)]
        assert sim.command({"slot": "S1", "fault": "short"}) == {"slot": "S1", "fault": "short"}
        try:
            after = [i async for i in slot.potentiostat.run(command)]
        except Exception as exc:  # a driver that recognises a short says so
            assert "short" in str(exc), exc
            after = []
    finally:
        await slot.close()
    volts = [i.voltage_V for i in before if not isinstance(i, StepEnd)]
    shorted = [i.voltage_V for i in after if not isinstance(i, StepEnd)]
    assert min(volts) > 3.0  # a half-charged NCM811 cell
    assert all(abs(v) < 0.05 for v in shorted)  # or the driver stopped at the first one
    assert sim.state()["slots"]["S1"]["fault"] == "short"


async def test_a_rig_leak_is_latched_by_the_rig_driver(simulation) -> None:
    sim, bench = simulation
    slot = await open_slot(bench, "S1", pool=InstrumentPool(bench))
    rig = slot.environment.rig
    try:
        await rig.hold(10.0, area_mm2=78.5)
        deadline = time.monotonic() + 10
        while abs((await rig.read()).pressure_MPa - 10.0) > 0.5:
            assert time.monotonic() < deadline, "the rig never reached 10 MPa"
            await asyncio.sleep(0.05)
        assert sim.state()["slots"]["S1"]["pressure_MPa"] == pytest.approx(10.0, abs=0.6)
        sim.command({"instrument": "press1", "fault": "leak", "value": 0.9})
        with pytest.raises(GasLeakError):
            while time.monotonic() < deadline + 10:
                await rig.read()
                await asyncio.sleep(0.05)
    finally:
        await rig.release()
        await slot.close()


async def test_control_refuses_what_it_cannot_do(simulation) -> None:
    sim, _ = simulation
    with pytest.raises(Exception, match="pty endpoint cannot drop"):
        sim.command({"instrument": "pstat1", "fault": "drop"})
    with pytest.raises(SchedulerError, match="no instrument 'nope'; instruments: pstat1, smu"):
        sim.command({"instrument": "nope", "fault": "drop"})
    with pytest.raises(SchedulerError, match=r"smu \(keithley2450\) has no fault 'leak'"):
        sim.command({"instrument": "smu", "fault": "leak"})
    sim.command({"instrument": "f4t", "fault": "sensor-dropout"})
    assert sim.state()["chambers"]["f4t"]["faults"]["sensor_dropout"] is True
    assert set(sim.command({"query": "faults"})["faults"]) == set(FAULTS)


def test_benches_a_simulation_cannot_serve_are_refused(tmp_path) -> None:
    no_sim = Bench.from_text(TEXT.format(tmp=tmp_path).split("[simulation]")[0], free_ports=True)
    with pytest.raises(SchedulerError, match="has no \\[simulation\\] section"):
        BenchSimulation(no_sim)
    text = TEXT.format(tmp=tmp_path).replace(
        "[simulation.cells]", '[simulation.cells]\nS2 = { preset = "no-such-cell" }'
    )
    text = text.replace('"TCPIP0::127.0.0.1::0::SOCKET"', '"USB0::0x05E6::0x2450::1::INSTR"')
    bench = Bench.from_text(text, free_ports=True)
    with pytest.raises(SchedulerError) as caught:
        BenchSimulation(bench)._build()
    message = str(caught.value)
    assert "instruments.smu.endpoint: the Keithley 2450 simulator serves only TCPIP0" in message
    assert "simulation.cells.S2: unknown cell preset 'no-such-cell'" in message
