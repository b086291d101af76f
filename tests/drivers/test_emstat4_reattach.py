"""Re-attach after a dropped connection, over real TCP, down to what the runner stores.

The instrument numbers every sample of a step (`Sample.index`); the simulator keeps the
script running while the host is away and buffers its output. A clean drop must lose
nothing and repeat nothing; an abrupt drop must report exactly the indices that never
arrived; the runner must store what arrived and record the re-attach and the gap.
"""

from __future__ import annotations

import pytest

from drivers.potentiostat import (
    Gap,
    Potentiostat,
    Reattached,
    Sample,
    StepCommand,
    StepEnd,
    StepLimit,
)
from drivers.potentiostats.emstat4 import EmStat4, parse_package
from simulators.cell import Cell, load_preset
from simulators.emstat4 import EmStat4Simulator

PRESET = "gao2025-dfncm-llzo"
LIMIT = StepLimit("voltage", "<=", 3.0, "voltage <= 3.0 V")


def charged_cell() -> Cell:
    cell = Cell(load_preset(PRESET), seed=7)
    cell.set_soc(1.0)
    return cell


def discharge(cell: Cell) -> StepCommand:
    return StepCommand(
        "cc",
        duration_s=5 * 3600,
        current_A=-0.5 * cell.one_c_A,
        limits=(LIMIT,),
        sample_interval_s=10.0,
    )


async def start(time_scale: float = float("inf")) -> tuple[EmStat4, EmStat4Simulator]:
    simulator = EmStat4Simulator(charged_cell(), time_scale=time_scale)
    host, port = await simulator.start_tcp()
    driver = EmStat4(f"tcp://{host}:{port}", name="ES4", reconnect_delay_s=0.1)
    await driver.connect()
    return driver, simulator


async def stop(driver: EmStat4, simulator: EmStat4Simulator) -> None:
    await driver.close()
    await simulator.stop()


def produced(simulator: EmStat4Simulator) -> int:
    """Data packages the instrument produced in one step (its closing package excluded)."""
    return simulator.machine.samples_emitted - 1


async def test_clean_drop_while_running_loses_nothing_and_ends_at_the_limit() -> None:
    # Finite time scale: the step (~2 h simulated, ~700 samples) takes ~1.5 s of wall time,
    # so the host is back while the script is still running.
    driver, simulator = await start(time_scale=5000.0)
    simulator.faults.drop_after_packages = 60
    running_at_reattach: list[bool] = []
    samples: list[Sample] = []
    try:
        async for item in driver.run(discharge(simulator.cell)):
            if isinstance(item, Reattached):
                running_at_reattach.append(simulator.running)
            elif isinstance(item, Gap):
                pytest.fail(f"a clean drop lost samples: {item}")
            elif isinstance(item, Sample):
                samples.append(item)
            else:
                end = item
    finally:
        await stop(driver, simulator)
    assert running_at_reattach == [True]
    assert simulator.drops == 1 and simulator.connections == 2
    assert isinstance(end, StepEnd) and end.reason == "limit" and end.limit == LIMIT
    assert "re-attached 1x" in end.message and "sample(s) lost" not in end.message
    indices = [s.index for s in samples]
    assert indices == list(range(1, produced(simulator) + 1))  # each once, in order
    assert samples[-1].voltage_V <= 3.0 < samples[-2].voltage_V
    assert [s.t_s for s in samples] == pytest.approx([10.0 * k for k in indices])


async def test_reattach_after_the_step_ended_receives_the_buffered_tail() -> None:
    driver, simulator = await start()
    simulator.faults.drop_after_packages = 40
    simulator.faults.offline_s = 0.4  # the port is gone while the step runs to its end
    running_at_reattach: list[bool] = []
    items = []
    try:
        async for item in driver.run(discharge(simulator.cell)):
            if isinstance(item, Reattached):
                running_at_reattach.append(simulator.running)
                assert item.down_s >= 0.4
            items.append(item)
    finally:
        await stop(driver, simulator)
    assert running_at_reattach == [False]  # it had finished (cell_off) while we were away
    samples = [i for i in items if isinstance(i, Sample)]
    end = items[-1]
    assert end.reason == "limit" and end.limit == LIMIT  # from the buffered closing package
    assert [s.index for s in samples] == list(range(1, produced(simulator) + 1))
    assert not any(isinstance(i, Gap) for i in items)


async def test_abrupt_drop_reports_exactly_the_missing_indices() -> None:
    driver, simulator = await start()
    simulator.faults.drop_after_packages = 50
    simulator.faults.drop_mode = "abrupt"
    simulator.faults.lost_in_flight = 4
    try:
        items = [item async for item in driver.run(discharge(simulator.cell))]
    finally:
        await stop(driver, simulator)
    gaps = [i for i in items if isinstance(i, Gap)]
    samples = [i for i in items if isinstance(i, Sample)]
    end = [i for i in items if isinstance(i, StepEnd)][-1]
    total = produced(simulator)
    received = [s.index for s in samples]
    missing = [k for gap in gaps for k in gap.missing]
    assert len(set(received)) == len(received)  # no duplicates
    assert sorted(received + missing) == list(range(1, total + 1))  # nothing unaccounted
    # the lines the instrument lost in flight are among the reported ones (at least those)
    lost = [
        int(v.value)
        for line in simulator.lost_lines
        for v in parse_package(line)
        if v.type_id == "jb"
    ]
    assert len(lost) == 4 and set(lost) <= set(missing)
    assert min(missing) > 50  # the first 50 went out before the drop
    assert end.reason == "limit" and end.limit == LIMIT
    assert f"{len(missing)} sample(s) lost" in end.message
    assert end.samples == len(received)


async def test_without_reattach_a_drop_is_a_clear_connection_error() -> None:
    from drivers.errors import InstrumentConnectionError

    driver, simulator = await start()
    driver.reattach = False
    simulator.faults.drop_after_packages = 5
    try:
        with pytest.raises(InstrumentConnectionError, match=r"re-attach is off.*own limits"):
            async for _ in driver.run(discharge(simulator.cell)):
                pass
        assert not (await driver.capabilities()).can_reattach
    finally:
        await stop(driver, simulator)


@pytest.mark.parametrize("mode", ["clean", "abrupt"])
async def test_runner_stores_what_arrived_and_records_the_reattach(tmp_path, mode) -> None:
    import protocols
    from scheduler.binding import CellInfo
    from scheduler.session import run_protocol
    from scheduler.sim.bench import simulated_emstat4
    from storage import open_store

    protocol_file = tmp_path / "charge.yaml"
    protocol_file.write_text(
        "name: reattach-check\nc_rate_basis: 200 mA h/g\n"
        "safety: {voltage_min: 2.5 V, voltage_max: 4.4 V, abs_current_max: 1C}\n"
        "steps:\n"
        "  - cc: {rate: 0.5C, direction: charge, until: [{voltage: '>= 4.3 V'}],"
        " record: {dt: 10 s}}\n"
    )
    store = open_store(f"sqlite:///{tmp_path / 'runs.db'}")
    async with simulated_emstat4(PRESET) as channel:
        channel.simulator.faults.drop_after_packages = 100
        channel.simulator.faults.drop_mode = mode
        params = channel.params
        cell = CellInfo(
            name="sim",
            active_mass_g=params.active_mass_g,
            specific_capacity_mAh_g=params.c_rate_basis_mAh_g,
        )
        run_id, result = await run_protocol(
            store, protocols.load(protocol_file), cell, channel.driver
        )
        total = produced(channel.simulator)
    assert result.status == "completed", result.message
    assert result.steps[0].end_reason.startswith("limit")
    stored = store.read_samples(run_id)
    events = {e.kind: e for e in store.events(run_id)}
    assert "reattach" in events and "re-attached" in events["reattach"].message
    lost = events["gap"].data["count"] if "gap" in events else 0
    assert (lost > 0) == (mode == "abrupt")
    assert len(stored["voltage_V"]) + lost == total  # every sample index accounted for
    assert stored["voltage_V"][-1] >= 4.3
    # stored step times are the instrument's: a gap shows as a jump, not as shifted data
    steps = stored["step_time_s"]
    assert steps[-1] == pytest.approx(10.0 * total)


async def test_a_new_host_adopts_the_running_step_after_a_restart() -> None:
    """Host process dies mid-step; a fresh driver attaches and gets the rest, by index."""
    first, simulator = await start(time_scale=5000.0)
    command = discharge(simulator.cell)
    seen: list[int] = []
    stream = first.run(command)  # kept referenced: a crashed host runs no clean-up either
    while len(seen) < 30:
        item = await stream.__anext__()
        if isinstance(item, Sample):
            seen.append(item.index)
    first.transport._writer.transport.abort()  # the process dies without a goodbye
    second = EmStat4(str(first.transport.endpoint), name="ES4 restarted")
    assert isinstance(second, Potentiostat)  # attach is part of the interface
    try:
        await second.connect()
        items = [i async for i in second.attach(command, after_index=seen[-1])]
    finally:
        await stop(second, simulator)
    later = [i.index for i in items if isinstance(i, Sample)]
    gaps = [k for i in items if isinstance(i, Gap) for k in i.missing]
    end = items[-1]
    assert end.reason == "limit" and end.limit == LIMIT
    # everything after the crash is either received or reported, exactly once
    assert sorted(later + gaps) == list(range(seen[-1] + 1, produced(simulator) + 1))
    assert len(later) > 100
