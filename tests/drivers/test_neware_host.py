"""The Neware BTS driver against the simulated BTS host over real TCP: discovery, a test run
and paged download, control, serialised concurrent use, lost links, and every kind of
malformed or hostile reply giving one clear error and nothing wrong handed on."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from drivers.cyclers.neware import MAX_PAGE, NewareHost
from drivers.errors import (
    InstrumentConnectionError,
    InstrumentReplyError,
    InstrumentReportedError,
    InstrumentTimeout,
)
from simulators.cell import load_preset, make_cell
from simulators.clock import SimClock
from simulators.neware import NewareSimulator
from tests.simulators.neware_files import cycling, step, step_file, value

PRESET = "gao2025-dfncm-llzo"


def _simulator(units: int = 2, channels: int = 4, time_scale: float = math.inf):
    params = load_preset(PRESET)
    cells = {
        (u, c): make_cell(params, seed=u * 10 + c)
        for u in range(1, units + 1)
        for c in range(1, channels + 1)
    }
    cells.pop((units, channels))  # one channel without a cell: present but not usable
    return NewareSimulator(cells, clock=SimClock(time_scale), units=units, channels=channels)


async def _host(sim: NewareSimulator, **options) -> NewareHost:
    _, port = await sim.start_tcp()
    host = NewareHost(f"tcp://127.0.0.1:{port}", timeout_s=2.0, **options)
    await host.open()
    return host


async def _until_state(host: NewareHost, channel, state: str) -> None:
    for _ in range(2000):
        if (await host.status([channel]))[channel] == state:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"channel {channel} never reached {state}")


async def test_discovery_run_and_paged_download(tmp_path: Path) -> None:
    sim = _simulator()
    host = await _host(sim)
    try:
        assert [str(c) for c in host.channels][:2] == ["1-1-1", "1-1-2"]
        assert len(host.channels) == 8 and not host.usable[host.channel("2-4")]
        channel = host.channel("1-1-1")
        cell = sim.channel("1-1-1").cell
        current_mA = 0.5 * cell.one_c_A * 1000
        path = tmp_path / "cycling.xml"
        step_file(cycling(current_mA, cycles=2), record_ms=5000, path=path)
        await host.start(channel, str(path), "cell-A")
        with pytest.raises(InstrumentReportedError, match="refused start on channel 1-1-1"):
            await host.start(channel, str(path), "again")  # a working channel takes no start
        await _until_state(host, channel, "finish")
        testid, count = await host.inquiredf(channel)
        records = []
        while len(records) < count:
            records += await host.download(channel, len(records) + 1, MAX_PAGE, testid=testid)
        layers = await host.download_step_layer(channel)
        live = (await host.inquire([channel]))[channel]
        log = await host.download_log(channel)
    finally:
        await host.close()
        await sim.stop()
    assert count > 3 * MAX_PAGE
    assert [r.seqid for r in records] == list(range(1, count + 1))
    assert live.state == "finish" and live.temperature_degC == pytest.approx(25.0)
    assert all(r.temperature_degC == pytest.approx(25.0) for r in records)
    for layer in (x for x in layers if x.step_type in ("cc", "dc")):
        last = records[layer.last - 1]
        assert last.step == layer.step and last.capacity_Ah == pytest.approx(layer.capacity_Ah)
        assert layer.capacity_Ah == pytest.approx(current_mA / 1000 * layer.step_s / 3600)
    assert records[-1].step_type == "rest" and log[-1][0] == count


async def test_control_moves_the_channel(tmp_path: Path) -> None:
    sim = _simulator(1, 2, time_scale=1e4)
    host = await _host(sim)
    path = tmp_path / "rest.xml"
    step_file(
        [step(1, 4, value("Time", 3.6e8)), step(2, 4, value("Time", 1e6)), step(3, 6)], path=path
    )
    channel = host.channel("1-1-1")
    try:
        await host.start(channel, str(path), "b")
        await host.stop(channel)
        assert (await host.status([channel]))[channel] == "stop"
        await host.resume(channel)
        await host.goto(channel, 2)
        await _until_state(host, channel, "finish")
        await host.clearflag(channel)
        with pytest.raises(InstrumentReportedError, match="refused stop on channel 1-1-1"):
            await host.stop(channel)
    finally:
        await host.close()
        await sim.stop()
    assert [layer.stepid for layer in sim.channel(1).layers] == [1, 2]


async def test_requests_from_many_tasks_share_one_connection(tmp_path: Path) -> None:
    sim = _simulator(2, 4, time_scale=1e4)
    host = await _host(sim)
    path = tmp_path / "rest.xml"
    step_file([step(1, 4, value("Time", 3.6e8)), step(2, 6)], record_ms=1000, path=path)
    usable = [c for c in host.channels if host.usable[c]]
    try:
        for channel in usable:
            await host.start(channel, str(path), str(channel))
        await asyncio.sleep(0.2)
        lives = await asyncio.gather(*(host.inquire([c]) for c in usable * 5))
        pages = await asyncio.gather(*(host.download(c, 1, 50) for c in usable))
    finally:
        await host.close()
        await sim.stop()
    assert sim.connections == 1
    assert all(next(iter(live.values())).barcode == str(next(iter(live))) for live in lives)
    assert all([r.seqid for r in page] == list(range(1, len(page) + 1)) for page in pages)


HOSTILE = [
    ("truncate", "inquire", "not complete XML"),
    ("count", "inquire", "count says 2 but holds 1"),
    ("entity", "inquire", "document type or entities; refused"),
    ("channel", "inquire", "answered inquire for channel 1-1-1 with channel 1-1-19"),
    ("channel", "getchlstatus", "answered getchlstatus for channel 1-1-1 with channel 1-1-91"),
    ("channel", "download", "download for channel 1-1-1 with channel 1-1-91"),
    ("count", "download", "count says"),
    ("truncate", "download", "not complete XML"),
]


@pytest.mark.parametrize(("mode", "command", "message"), HOSTILE)
async def test_a_hostile_reply_is_one_clear_error(
    tmp_path: Path, mode: str, command: str, message: str
) -> None:
    sim = _simulator(1, 2)
    host = await _host(sim)
    channel = host.channel("1-1-1")
    path = tmp_path / "rest.xml"
    step_file([step(1, 4, value("Time", 60_000)), step(2, 6)], record_ms=1000, path=path)
    calls = {
        "inquire": lambda: host.inquire([channel]),
        "getchlstatus": lambda: host.status([channel]),
        "download": lambda: host.download(channel, 1, 100),
    }
    try:
        await host.start(channel, str(path), "b")
        await _until_state(host, channel, "finish")
        sim.inject("corrupt", mode=mode, command=command)
        with pytest.raises(InstrumentReplyError, match=message):
            await calls[command]()
        again = await calls[command]()  # the next reply is read cleanly
    finally:
        await host.close()
        await sim.stop()
    assert again


async def test_wrong_records_in_a_page_are_refused() -> None:
    from drivers.cyclers.neware import replies

    host = NewareHost("tcp://127.0.0.1:1")
    channel = replies.ChannelId(27, 1, 1, 1)
    head = (
        '<bts version="1.0"><cmd>donwload_resp</cmd>'
        '<download devtype="27" devid="1" subdevid="1" chlid="1" testid="3"/>'
    )
    rec = (
        '<data seqid="{}" stepid="1" cycleid="1" steptype="rest" testtime="1000" '
        'volt="3.1" curr="0" cap="0" eng="0"/>'
    )
    skipped = f'{head}<list count="2">{rec.format(5)}{rec.format(7)}</list></bts>'
    with pytest.raises(InstrumentReplyError, match="sent record 7 where record 6"):
        host._page(replies.parse(skipped, "download", "h"), channel, 5, 10, None)
    other_test = f'{head}<list count="1">{rec.format(5)}</list></bts>'
    with pytest.raises(InstrumentReplyError, match="records of another test"):
        host._page(replies.parse(other_test, "download", "h"), channel, 5, 10, 4)
    nan = other_test.replace('volt="3.1"', 'volt="nan"')
    with pytest.raises(InstrumentReplyError, match="not a finite number"):
        host._page(replies.parse(nan, "download", "h"), channel, 5, 10, None)


async def test_a_dropped_link_is_redialled_and_a_stalled_host_times_out() -> None:
    sim = _simulator(1, 1)
    host = await _host(sim, reconnect_attempts=3)
    channel = host.channel("1-1-1")
    try:
        sim.inject("drop")
        assert (await host.status([channel]))[channel] == "finish"
        assert sim.connections == 2
        sim.inject("stall")
        with pytest.raises(InstrumentTimeout, match="sent no complete reply for 2 s"):
            await host.inquire([channel])
    finally:
        await host.close()
        await sim.stop()


async def test_an_unreachable_host_says_so() -> None:
    host = NewareHost("tcp://127.0.0.1:1", timeout_s=0.5)
    with pytest.raises(InstrumentConnectionError, match="cannot connect to"):
        await host.open()
    with pytest.raises(InstrumentConnectionError, match="over TCP"):
        NewareHost("/dev/ttyUSB0")
