"""The simulated BTS 8 host, driven by the open client for its API (aurora-neware, MIT) and by
raw frames: channels run step files on their cells, records page through `download`, the
states and protection behave as the host's do, and the faults spoil what they say."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest
from aurora_neware import NewareAPI

from simulators.cell import load_preset, make_cell
from simulators.clock import SimClock
from simulators.errors import SimulatorError
from simulators.neware import NewareSimulator
from tests.simulators.neware_files import cycling, step, step_file, value

PRESET = "gao2025-dfncm-llzo"
TERMINATOR = b"\n\n#\r\n"


def _cells(n_units: int, n_channels: int) -> dict[tuple[int, int], object]:
    params = load_preset(PRESET)
    return {
        (u, c): make_cell(params, seed=u * 100 + c)
        for u in range(1, n_units + 1)
        for c in range(1, n_channels + 1)
    }


async def _until(predicate, wait_s: float = 20.0) -> None:
    for _ in range(int(wait_s / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


async def _raw(port: int, body: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = '<?xml version="1.0" encoding="UTF-8" ?><bts version="1.0">'
    writer.write(f"{head}{body}</bts>".encode() + TERMINATOR)
    await writer.drain()
    reply = await asyncio.wait_for(reader.readuntil(TERMINATOR), 5)
    writer.close()
    return reply[: -len(TERMINATOR)]


async def test_the_open_client_runs_two_cycles_and_pages_every_record(tmp_path: Path) -> None:
    cells = _cells(2, 4)
    sim = NewareSimulator(cells, clock=SimClock(math.inf), units=2, channels=4, devid=21)
    _, port = await sim.start_tcp()
    cell = cells[(1, 1)]
    current_mA = 0.5 * cell.one_c_A * 1000  # 0.5C
    path = tmp_path / "cycling.xml"
    step_file(cycling(current_mA, cycles=2), path=path)
    try:
        api = NewareAPI("127.0.0.1", port)
        await asyncio.to_thread(api.connect)
        assert len(api.channel_map) == 8 and "21-2-4" in api.channel_map
        started = await asyncio.to_thread(api.start, "21-1-1", "cell-A", str(path))
        assert started[0]["start"] == "ok"
        await _until(lambda: sim.channel("21-1-1").state == "finish")
        status = await asyncio.to_thread(api.inquire, "21-1-1")
        assert status["21-1-1"]["workstatus"] == "finish"
        data = await asyncio.to_thread(api.download, "21-1-1", 0)
        steps = await asyncio.to_thread(api.get_steps, "21-1-1")
        tests = await asyncio.to_thread(api.get_testid, ["21-1-1", "21-2-4"])
        lit = await asyncio.to_thread(api.light, "21-1-1")
        cleared = await asyncio.to_thread(api.clearflag, "21-1-1")
        await asyncio.to_thread(api.disconnect)
    finally:
        await sim.stop()
    assert tests["21-1-1"]["test_id"] == 1 and tests["21-2-4"]["test_id"] == 0
    assert lit[0]["light"] == "ok" and cleared[0]["clearflag"] == "ok"
    n = len(data["seqid"])
    assert n > 2000  # several download pages of up to 1000 records
    assert data["seqid"] == list(range(1, n + 1))
    assert set(data["cycleid"]) == {1, 2}
    discharges = [s for s in steps if s["steptype"] == "dc"]
    charges = [s for s in steps if s["steptype"] == "cc"]
    assert len(discharges) == len(charges) == 2
    for layer in discharges + charges:
        # a CC step's capacity is its current times its time, and it ended at its limit
        expected_Ah = current_mA / 1000 * layer["steptime"] / 3.6e6
        assert layer["cap"] == pytest.approx(expected_Ah, rel=1e-6)
        last = data["seqid"].index(layer["endseqid"])
        assert data["cap"][last] == pytest.approx(layer["cap"], rel=1e-6)
    assert all(layer["endvolt"] <= 3.0 for layer in discharges)
    assert all(layer["endvolt"] >= 4.3 for layer in charges)
    # physics: a 0.5C discharge gives most of the cell's capacity, a no more than the charge
    # before it (Coulombic efficiency below 100 %)
    for charge, discharge in zip(charges, discharges, strict=True):
        assert 0.6 * cell.capacity_Ah < discharge["cap"] < 1.05 * cell.capacity_Ah
        assert 0.85 < discharge["cap"] / charge["cap"] <= 1.0
    assert all(c < 0 for c, t in zip(data["curr"], data["steptype"], strict=True) if t == "dc")


async def test_a_protection_trip_ends_one_channel_and_the_others_run_on(tmp_path: Path) -> None:
    cells = _cells(1, 2)
    sim = NewareSimulator(cells, clock=SimClock(math.inf), units=1, channels=2)
    _, port = await sim.start_tcp()
    current_mA = 0.5 * cells[(1, 1)].one_c_A * 1000
    guarded = tmp_path / "guarded.xml"
    step_file(cycling(current_mA, 1), protect=f"<Volt>{value('Upper', 4.0e4)}</Volt>", path=guarded)
    long = tmp_path / "long.xml"
    step_file(cycling(current_mA, 50), path=long)
    try:
        api = NewareAPI("127.0.0.1", port)
        await asyncio.to_thread(api.connect)
        await asyncio.to_thread(api.start, "1-1-1", "tripping", str(guarded))
        await asyncio.to_thread(api.start, "1-1-2", "running", str(long))
        await _until(lambda: sim.channel("1-1-1").state == "protect")
        status = await asyncio.to_thread(api.inquire, ["1-1-1", "1-1-2"])
        log = await asyncio.to_thread(api.downloadlog, "1-1-1")
        await asyncio.to_thread(api.disconnect)
    finally:
        await sim.stop()
    assert status["1-1-1"]["workstatus"] == "protect"
    assert status["1-1-1"]["current"] == 0
    assert status["1-1-2"]["workstatus"] == "working"
    assert sim.channel("1-1-1").protect_reason == "v_max"
    assert sim.channel("1-1-1").records[-1].volt > 4.0  # the point that tripped it is kept
    assert log[-1]["log_code"] == 101001


async def test_stop_continue_and_goto_move_the_test_as_the_host_does(tmp_path: Path) -> None:
    sim = NewareSimulator(_cells(1, 1), clock=SimClock(1e4), units=1, channels=1)
    _, port = await sim.start_tcp()
    path = tmp_path / "rest.xml"
    step_file(
        [step(1, 4, value("Time", 3.6e7)), step(2, 4, value("Time", 1e6)), step(3, 6)], path=path
    )
    where = 'ip="127.0.0.1" devtype="27" devid="1" subdevid="1" chlid="1"'
    channel = sim.channel(1)
    try:
        reply = await _raw(
            port,
            f'<cmd>start</cmd><list count="1"><start {where} barcode="b">{path}</start></list>',
        )
        assert b">ok</start>" in reply
        await _until(lambda: channel.progress.step_s > 100)
        assert b">ok</stop>" in await _raw(
            port, f'<cmd>stop</cmd><list count="1"><stop {where}>true</stop></list>'
        )
        held = channel.progress.step_s
        assert channel.state == "stop" and channel.current_A == 0
        reply = await _raw(
            port, f'<cmd>continue</cmd><list count="1"><continue {where}>true</continue></list>'
        )
        assert b">ok</continue>" in reply and channel.state == "working"
        await _until(lambda: channel.progress.step_s > held + 100)
        assert channel.progress.step_id == 1  # it carried on in the same step
        reply = await _raw(
            port, f'<cmd>goto</cmd><list count="1"><goto {where} stepid="2">true</goto></list>'
        )
        assert b">ok</goto>" in reply
        await _until(lambda: channel.state == "finish")
    finally:
        await sim.stop()
    assert [layer.stepid for layer in channel.layers] == [1, 2]
    assert channel.layers[1].steptime_ms == pytest.approx(1e6)


async def test_step_files_it_cannot_run_are_refused_with_the_reason(tmp_path: Path) -> None:
    sim = NewareSimulator(_cells(1, 1), units=1, channels=1)
    _, port = await sim.start_tcp()
    lsv = tmp_path / "lsv.xml"
    step_file([step(1, 25, value("Time", 1000)), step(2, 6)], path=lsv)
    where = 'ip="127.0.0.1" devtype="27" devid="1" subdevid="1" chlid="1"'
    try:
        for path in (lsv, tmp_path / "missing.xml"):
            body = (
                f'<cmd>start</cmd><list count="1"><start {where} barcode="b">{path}</start></list>'
            )
            assert b">false</start>" in await _raw(port, body)
    finally:
        await sim.stop()
    assert "Step_Type 25" in sim.refusals[0] and "missing.xml" in sim.refusals[1]
    assert sim.channel(1).state == "finish"


@pytest.mark.parametrize("mode", ["truncate", "count", "entity", "channel"])
async def test_corrupt_spoils_the_next_reply_as_it_says(mode: str) -> None:
    sim = NewareSimulator(_cells(1, 2), units=1, channels=2)
    _, port = await sim.start_tcp()
    body = (
        '<cmd>getchlstatus</cmd><list count="1"><status ip="127.0.0.1" devtype="27" devid="1" '
        'subdevid="1" chlid="2">true</status></list>'
    )
    try:
        clean = await _raw(port, body)
        sim.inject("corrupt", mode=mode)
        spoiled = await _raw(port, body)
        again = await _raw(port, body)
    finally:
        await sim.stop()
    assert again == clean and spoiled != clean
    expected = {
        "truncate": lambda s: clean.startswith(s) and len(s) < len(clean),
        "count": lambda s: b'count="2"' in s,
        "entity": lambda s: b"<!ENTITY" in s,
        "channel": lambda s: b'chlid="92"' in s,
    }
    assert expected[mode](spoiled)


async def test_drop_and_stall_leave_the_channels_running(tmp_path: Path) -> None:
    sim = NewareSimulator(_cells(1, 1), clock=SimClock(1e4), units=1, channels=1)
    _, port = await sim.start_tcp()
    path = tmp_path / "rest.xml"
    step_file([step(1, 4, value("Time", 3.6e8)), step(2, 6)], path=path)
    try:
        api = NewareAPI("127.0.0.1", port)
        await asyncio.to_thread(api.connect)
        await asyncio.to_thread(api.start, "1-1-1", "b", str(path))
        await asyncio.to_thread(api.disconnect)
        # (aurora-neware's client reads a closed socket for ever, so a raw one sees the drop)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sim.inject("drop")
        try:
            assert await asyncio.wait_for(reader.read(), 5) == b""
        except ConnectionResetError:
            pass
        writer.close()
        assert sim.channel(1).state == "working"
        sim.inject("stall")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b'<?xml version="1.0"?><bts version="1.0"><cmd>connect</cmd></bts>' + TERMINATOR
        )
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.readuntil(TERMINATOR), 0.3)
        sim.clear()
        writer.write(
            b'<?xml version="1.0"?><bts version="1.0"><cmd>connect</cmd></bts>' + TERMINATOR
        )
        assert b"<result>ok</result>" in await asyncio.wait_for(reader.readuntil(TERMINATOR), 5)
        writer.close()
        with pytest.raises(SimulatorError, match="has no fault 'meltdown'"):
            sim.inject("meltdown")
    finally:
        await sim.stop()
    assert sim.state()["channels"]["1-1-1"]["records"] > 0


async def test_a_cccv_charge_holds_its_voltage_until_the_current_falls(tmp_path: Path) -> None:
    cells = _cells(1, 1)
    sim = NewareSimulator(cells, clock=SimClock(math.inf), units=1, channels=1)
    _, port = await sim.start_tcp()
    one_c_mA = cells[(1, 1)].one_c_A * 1000
    path = tmp_path / "cccv.xml"
    main = value("Curr", one_c_mA) + value("Volt", 4.3e4) + value("Stop_Curr", one_c_mA / 20)
    step_file([step(1, 3, main), step(2, 6)], record_ms=5000, path=path)
    where = 'ip="127.0.0.1" devtype="27" devid="1" subdevid="1" chlid="1"'
    channel = sim.channel(1)
    try:
        body = f'<cmd>start</cmd><list count="1"><start {where} barcode="b">{path}</start></list>'
        assert b">ok</start>" in await _raw(port, body)
        await _until(lambda: channel.state == "finish")
    finally:
        await sim.stop()
    cc = [d for d in channel.records if d.steptype == "cccv"]
    cv = [d for d in channel.records if d.steptype == "cv"]
    assert cc and cv
    assert all(d.curr == pytest.approx(one_c_mA / 1000) for d in cc)
    assert all(abs(d.volt - 4.3) < 5e-3 for d in cv[1:])  # held at the CV level
    assert cv[-1].curr <= one_c_mA / 20 / 1000 < cv[-2].curr  # ended when it fell below C/20
    assert channel.records[-1].cap > cc[-1].cap  # the CV phase added capacity
