"""Neware channels as slots, through the whole stack in one process: the bench simulation
serves a BTS host, the daemon runs queued jobs on its channels as step files and stores the
downloaded records; capacities match the EmStat4 path for the same preset, a protection
trip ends one job and not the others, and unsupported protocols are refused at submission."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from protocols import LIBRARY
from protocols.analysis.cycles import cycle_summary
from scheduler import queue
from scheduler.bench import Bench
from scheduler.binding import CellInfo
from scheduler.daemon.lifecycle import Daemon
from scheduler.errors import SchedulerError
from scheduler.jobs import JobState
from scheduler.session import run_protocol
from scheduler.sim.bench import simulated_emstat4
from scheduler.sim.server import BenchSimulation
from storage import open_store

PRESET = "gao2025-dfncm-llzo"
MASS_G, AREA_CM2 = 0.0204, 1.131  # 1C = 4.08 mA at 200 mA/g
TIME_SCALE = 20000.0
SHORT = {"cycles": 2, "formation_rate": "0.5C"}  # keep the whole-stack run short
CYCLING = LIBRARY / "gao2025" / "cycling-0.5C.yaml"
LIMITS = "limits = { voltage_min_V = 2.5, voltage_max_V = 4.4, abs_current_max_A = 0.02 }"


def bench_text(slots: int = 3) -> str:
    rows = "".join(
        f'\n[[slots]]\nname = "N{i}"\npotentiostat = "bts"\nchannel = {i}\n{LIMITS}\n'
        for i in range(1, slots + 1)
    )
    cells = "".join(f'N{i} = {{ preset = "{PRESET}", soc = 0.0 }}\n' for i in range(1, slots + 1))
    return f"""
[bench]
name = "cyclers"
recovery = "auto"
sample_period_s = 0.5

[instruments.bts]
kind = "neware"
endpoint = "tcp://127.0.0.1:0"
units = 2
channels = 2
max_current_A = 0.02
poll_s = 0.2
{rows}
[simulation]
time_scale = {TIME_SCALE}
control = "tcp://127.0.0.1:0"
[simulation.cells]
{cells}"""


async def _until_done(store, job_ids: list[int], wait_s: float = 90.0) -> None:
    for _ in range(int(wait_s / 0.1)):
        states = [store.get_job(j).state for j in job_ids]
        if all(s not in (JobState.QUEUED, JobState.RUNNING) for s in states):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"jobs still running: {states}")


def add_cell(store) -> None:
    """The cell every job here runs on."""
    store.add_cell("c1", active_mass_g=MASS_G, area_cm2=AREA_CM2, specific_capacity_mAh_g=200.0)


def submit(store, bench, slot: str, protocol=CYCLING, overrides=SHORT, by: str = "t") -> int:
    """Queue `protocol` (the short 0.5C cycling) for cell c1 on `slot`."""
    return queue.submit(
        store,
        bench,
        protocol_path_or_text=protocol,
        cell_name="c1",
        slot=slot,
        by=by,
        overrides=overrides,
    )


@contextlib.asynccontextmanager
async def daemon_running(bench, store) -> AsyncIterator[None]:
    """The daemon runs the bench's queue in this process; stopped gracefully on leaving."""
    daemon = Daemon(bench, store, poll_s=0.1)
    task = asyncio.create_task(daemon.run())
    try:
        yield
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 30)


@contextlib.asynccontextmanager
async def simulated(text: str, db: Path) -> AsyncIterator[tuple[BenchSimulation, Bench, Any]]:
    """The bench `text` simulated in this process, and a store at `db` with cell c1."""
    simulation = BenchSimulation(Bench.from_text(text, free_ports=True))
    await simulation.start()
    try:
        store = open_store(f"sqlite:///{db}")
        add_cell(store)
        yield simulation, Bench.from_text(simulation.resolved_text()), store
    finally:
        await simulation.stop()


@pytest.fixture
async def cyclers(tmp_path: Path):
    async with simulated(bench_text(), tmp_path / "cyclers.db") as (simulation, bench, store):
        async with daemon_running(bench, store):
            yield simulation, bench, store


def _summary(store, run_id: int):
    samples = store.read_samples(run_id)
    return samples, cycle_summary(samples, active_mass_g=MASS_G)


async def _emstat4_summary(tmp_path: Path, protocol: Path, overrides=SHORT):
    from protocols import load

    store = open_store(f"sqlite:///{tmp_path}/emstat4.db")
    cell = CellInfo("c1", active_mass_g=MASS_G, area_cm2=AREA_CM2, specific_capacity_mAh_g=200.0)
    async with simulated_emstat4(PRESET, seed=1) as channel:
        run_id, _ = await run_protocol(
            store, load(protocol), cell, channel.driver, overrides=overrides
        )
    return _summary(store, run_id)[1]


async def test_cycling_on_a_neware_channel_matches_the_emstat4_path(cyclers, tmp_path) -> None:
    simulation, bench, store = cyclers
    job = submit(store, bench, "N1")
    await _until_done(store, [job])
    assert store.get_job(job).state == JobState.COMPLETED
    run = store.latest_run_for_job(job)
    samples, neware = _summary(store, run.id)
    emstat = await _emstat4_summary(tmp_path, CYCLING)
    # the same cycles (formation, then two 0.5C cycles), capacities and retention within 1 %
    assert [r.cycle for r in neware] == [r.cycle for r in emstat] and len(neware) == 3
    for ours, theirs in zip(neware, emstat, strict=True):
        assert ours.discharge_mAh_g == pytest.approx(theirs.discharge_mAh_g, rel=0.01)
        assert ours.charge_mAh_g == pytest.approx(theirs.charge_mAh_g, rel=0.01)
    assert neware[-1].retention == pytest.approx(emstat[-1].retention, abs=0.01)
    # every record of the channel stored once, in order, with the aux temperature
    channel = simulation.served["bts"].simulator.channel(1)
    assert list(samples["record_index"]) == list(range(1, len(channel.records) + 1))
    assert np.all(np.diff(samples["test_time_s"]) >= 0)
    assert np.allclose(samples["temperature_degC"], 25.0)
    assert set(np.unique(samples["step_index"])) == {0, 1, 2, 3, 4, 6, 7, 8, 9, 10}


# Up to 2C: charged at 3C from 2C, this cell overshoots the 2.8 V safety limit at the end of the
# 3C discharge on both paths alike (one logged point every 10 s).
RATES = {"rates": ["0.5C", "1C", "2C"], "cycles_per_rate": 1}


async def test_the_rate_test_on_a_neware_channel_matches_the_emstat4_path(
    cyclers, tmp_path
) -> None:
    _, bench, store = cyclers
    protocol = LIBRARY / "gao2025" / "rate.yaml"
    job = submit(store, bench, "N2", protocol, RATES)
    await _until_done(store, [job])
    assert store.get_job(job).state == JobState.COMPLETED, store.get_job(job).message
    neware = _summary(store, store.latest_run_for_job(job).id)[1]
    emstat = await _emstat4_summary(tmp_path, protocol, RATES)
    assert len(neware) == len(emstat) == 3
    for ours, theirs in zip(neware, emstat, strict=True):
        assert ours.discharge_mAh_g == pytest.approx(theirs.discharge_mAh_g, rel=0.01)
    # the rate table falls with rate on both paths
    assert [r.discharge_mAh_g for r in neware] == sorted(
        (r.discharge_mAh_g for r in neware), reverse=True
    )


async def test_a_protection_trip_ends_that_job_and_the_others_run_on(cyclers) -> None:
    simulation, bench, store = cyclers
    jobs = [submit(store, bench, slot) for slot in ("N1", "N2", "N3")]
    host = simulation.served["bts"].simulator
    for _ in range(300):
        if host.channel(2).state == "working" and host.channel(2).records:
            break
        await asyncio.sleep(0.05)
    host.inject("protect", channel=2)
    await _until_done(store, jobs)
    states = [store.get_job(j).state for j in jobs]
    assert states[0] == states[2] == JobState.COMPLETED
    assert states[1] != JobState.COMPLETED
    tripped = store.latest_run_for_job(jobs[1])
    assert tripped.status == "safety" and "went to protect" in tripped.message
    assert host.channel(1).state == host.channel(3).state == "finish"


def test_what_a_neware_channel_cannot_run_is_refused_at_submission(tmp_path) -> None:
    bench = Bench.from_text(bench_text(), free_ports=True)
    store = open_store(f"sqlite:///{tmp_path}/refuse.db")
    add_cell(store)
    for name, words in [
        ("vt-eis", "EIS cannot run on a Neware BTS channel"),
        ("cv", "voltage sweeps cannot run on a Neware BTS channel"),
    ]:
        with pytest.raises(SchedulerError, match=words) as caught:
            submit(store, bench, "N1", LIBRARY / "gao2025" / f"{name}.yaml", overrides=None)
        assert "cannot run on slot N1" in str(caught.value)
    assert store.list_jobs() == []  # nothing written for a refused job


async def test_hostile_replies_mid_run_store_nothing_wrong(cyclers) -> None:
    simulation, bench, store = cyclers
    job = submit(store, bench, "N3")
    host = simulation.served["bts"].simulator
    channel = host.channel(3)
    for _ in range(300):
        if len(channel.records) > 200:
            break
        await asyncio.sleep(0.05)
    run = store.latest_run_for_job(job)
    for mode in ("truncate", "count", "entity", "channel"):
        warned = len([e for e in store.events(run.id) if e.kind == "instrument"])
        host.inject("corrupt", mode=mode, command="download")
        for _ in range(100):
            if len([e for e in store.events(run.id) if e.kind == "instrument"]) > warned:
                break
            await asyncio.sleep(0.05)
    await _until_done(store, [job])
    assert store.get_job(job).state == JobState.COMPLETED, store.get_job(job).message
    samples = store.read_samples(run.id)
    assert list(samples["record_index"]) == list(range(1, len(channel.records) + 1))
    assert np.allclose(samples["voltage_V"], [r.volt for r in channel.records])
    warnings = [e.message for e in store.events(run.id) if e.kind == "instrument"]
    assert len(warnings) == 4 and all("nothing of that reply was stored" in w for w in warnings)
    assert any("not complete XML" in w for w in warnings)
    assert any("document type or entities" in w for w in warnings)
    assert any("with channel 1-2-91" in w for w in warnings)


async def test_a_graceful_restart_and_an_operator_pause_carry_the_schedule_on(tmp_path) -> None:
    async with simulated(bench_text(1), tmp_path / "restart.db") as (simulation, bench, store):
        channel = simulation.served["bts"].simulator.channel(1)
        job = submit(store, bench, "N1")

        async def run_daemon_until(predicate) -> None:
            async with daemon_running(bench, store):
                for _ in range(900):
                    if predicate():
                        return
                    await asyncio.sleep(0.1)
                raise AssertionError("the condition was not reached")

        await run_daemon_until(lambda: len(channel.records) > 300)
        assert channel.state == "working"  # a graceful stop leaves the schedule running
        assert store.get_job(job).state == JobState.INTERRUPTED
        paused = False

        def pause_then_done() -> bool:
            nonlocal paused
            if not paused and len(channel.records) > 1500:
                queue.pause(store, job, by="t")
                paused = True
            if paused and store.get_job(job).state == JobState.PAUSED:
                assert channel.state == "stop"
                queue.resume(store, job, by="t")
            return store.get_job(job).state in (JobState.COMPLETED, JobState.FAILED)

        await run_daemon_until(pause_then_done)
    assert store.get_job(job).state == JobState.COMPLETED, store.get_job(job).message
    assert paused and channel.testid == 1  # one test, stopped once and continued
    samples = store.read_samples(store.latest_run_for_job(job).id)
    assert list(samples["record_index"]) == list(range(1, len(channel.records) + 1))
    assert len(_summary(store, store.latest_run_for_job(job).id)[1]) == 3


SOAK = """
name: soak-between-blocks
c_rate_basis: 200 mA/g
record: {dt: 10 s}
safety: {voltage_min: 2.8 V, voltage_max: 4.4 V, abs_current_max: 1.5C, temperature_max: 60 degC}
steps:
  - cc: {rate: 1C, direction: charge, until: ["voltage >= 4.3 V"]}
  - cc: {rate: 1C, direction: discharge, until: ["voltage <= 3.0 V"]}
  - advance_cycle: {}
  - set_temperature: {target: 45 degC, tolerance: 1 K, soak: 30 min, timeout: 6 h}
  - cc: {rate: 1C, direction: charge, until: ["voltage >= 4.3 V"]}
  - cc: {rate: 1C, direction: discharge, until: ["voltage <= 3.0 V"]}
  - advance_cycle: {}
"""


async def test_a_chamber_soak_splits_the_schedule_into_segments(tmp_path) -> None:
    text = bench_text(1).replace('potentiostat = "bts"', 'potentiostat = "bts"\nchamber = "ch1"')
    text = text.replace(
        "[simulation]",
        '[instruments.ch1]\nkind = "espec"\nendpoint = "tcp://127.0.0.1:0"\n\n[simulation]',
    )
    async with simulated(text, tmp_path / "soak.db") as (_, bench, store):
        async with daemon_running(bench, store):
            job = submit(store, bench, "N1", SOAK, overrides=None)
            await _until_done(store, [job], wait_s=120)
    assert store.get_job(job).state == JobState.COMPLETED, store.get_job(job).message
    run = store.latest_run_for_job(job)
    samples, rows = _summary(store, run.id)
    # two step files, the host's soak between them; one record sequence over both
    started = [e.message for e in store.events(run.id) if e.kind == "schedule"]
    assert len(started) == 2 and "cellbench-run-1-2.xml" in started[1]
    assert list(samples["record_index"]) == list(range(1, len(samples["record_index"]) + 1))
    kinds = [s.kind for s in store.steps(run.id)]
    assert kinds == ["ConstantCurrent"] * 2 + ["SetTemperature"] + ["ConstantCurrent"] * 2
    first, second = samples["cycle"] == 1, samples["cycle"] == 2
    assert np.nanmax(samples["temperature_degC"][first]) < 27.0  # the aux sensor, 25 °C ...
    assert np.nanmin(samples["temperature_degC"][second]) > 43.0  # ... then after the soak
    # physics: the warmer cell gives more of its capacity at 1C
    assert [r.cycle for r in rows] == [1, 2]
    assert rows[1].discharge_mAh_g > rows[0].discharge_mAh_g


PULSES = """
name: three-pulses
c_rate_basis: 200 mA/g
record: {dt: 10 s}
safety: {voltage_min: 2.8 V, voltage_max: 4.4 V, abs_current_max: 1C}
steps:
  - cc: {rate: 0.5C, direction: charge, until: ["voltage >= 3.8 V"]}
  - pulse_train: {rate: 0.5C, direction: charge, pulse: 10 min, relax: 30 min, n_pulses: 3}
  - rest: {duration: 10 min}
"""


async def test_a_pulse_train_is_one_plan_step_of_three_pulses(cyclers) -> None:
    _, bench, store = cyclers
    job = submit(store, bench, "N1", PULSES, overrides=None)
    await _until_done(store, [job])
    assert store.get_job(job).state == JobState.COMPLETED, store.get_job(job).message
    run = store.latest_run_for_job(job)
    steps = store.steps(run.id)
    assert [s.kind for s in steps] == ["ConstantCurrent", "PulseTrain", "Rest"]
    samples = store.read_samples(run.id)
    train = samples["step_index"] == 1
    one_c_A = MASS_G * 200.0 / 1000.0
    before = samples["charge_capacity_Ah"][samples["step_index"] == 0][-1]
    charged = samples["charge_capacity_Ah"][train][-1] - before
    on = samples["current_A"][train] > 0
    assert np.count_nonzero(np.diff(on.astype(int)) == 1) == 2  # three pulses: two new starts
    assert samples["step_time_s"][train].max() == pytest.approx(3 * 2400.0, abs=1.0)
    assert charged == pytest.approx(3 * 0.5 * one_c_A * 600.0 / 3600.0, rel=0.02)


async def test_the_aux_temperature_is_guarded_by_the_host(cyclers) -> None:
    """The step file has no temperature limit: the host stops a channel whose aux sensor
    (25 °C here) is beyond the protocol's limits, on either side."""
    simulation, bench, store = cyclers
    guarded = {"N1": "temperature_max: 20 degC", "N2": "temperature_min: 30 degC"}
    jobs = {
        slot: submit(
            store,
            bench,
            slot,
            PULSES.replace("abs_current_max: 1C", f"abs_current_max: 1C, {limit}"),
            overrides=None,
        )
        for slot, limit in guarded.items()
    }
    await _until_done(store, list(jobs.values()))
    runs = {slot: store.latest_run_for_job(job) for slot, job in jobs.items()}
    assert {run.status for run in runs.values()} == {"safety"}
    assert "temperature 25.0 °C above 20 °C" in runs["N1"].message
    assert "temperature 25.0 °C below 30 °C" in runs["N2"].message
    host = simulation.served["bts"].simulator
    assert host.channel(1).state == host.channel(2).state == "stop"
