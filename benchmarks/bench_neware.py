"""One daemon against a simulated Neware BTS host: 64 channels at once against one channel,
measured in the same run.

Each scenario starts, as separate processes, `cellbench sim --bench` serving one BTS host
(2 units × 32 channels) and `cellbench daemon` with a SQLite database, then queues one long
cycling job per channel (0.5C charge and discharge, 3.0–4.3 V, a record every 1 s, 200
cycles: it never ends during the measurement) at time scale 10, so that each channel logs 10
records per wall second. After a warm-up in which every run has stored records, it measures
for a fixed wall-clock window:

- **CPU share**: the daemon's user + system time over wall time, from /proc/<pid>/stat, as a
  share of one core;
- **records stored per wall second**: committed record numbers at the end of the window
  minus those at its start, over the window;
- **lag**: at the end of the window, records the cycler had logged (the simulator's count)
  minus records committed, per channel; also as wall seconds (÷ 10 records per second);
- **exactly once**: after the daemon stops, every run's stored record numbers are 1…N with
  no gap and no duplicate.

    .venv/bin/python benchmarks/bench_neware.py [--channels 64] [--window-s 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from processes import CELLBENCH, cpu_seconds, stop  # noqa: E402

TIME_SCALE = 10.0
RECORD_S = 1.0
PROTOCOL = """
name: neware-long-cycling
c_rate_basis: 200 mA/g
record: {dt: 1 s}
safety: {voltage_min: 2.5 V, voltage_max: 4.4 V, abs_current_max: 1C}
steps:
  - repeat:
      times: 200
      steps:
        - cc: {rate: 0.5C, direction: charge, until: ["voltage >= 4.3 V"]}
        - cc: {rate: 0.5C, direction: discharge, until: ["voltage <= 3.0 V"]}
        - advance_cycle: {}
"""


def bench_text(channels: int) -> str:
    import tomli_w

    units = max(1, -(-channels // 32))
    data: dict[str, Any] = {
        "bench": {"name": f"bts{channels}", "recovery": "auto", "sample_period_s": 1.0},
        "instruments": {
            "bts": {
                "kind": "neware",
                "endpoint": "tcp://127.0.0.1:0",
                "units": units,
                "channels": 32,
                "max_current_A": 0.02,
                "poll_s": 1.0,
            }
        },
        "slots": [],
        "simulation": {"time_scale": TIME_SCALE, "control": "tcp://127.0.0.1:0", "cells": {}},
    }
    limits = {"voltage_min_V": 2.5, "voltage_max_V": 4.4, "abs_current_max_A": 0.02}
    for number in range(1, channels + 1):
        slot = f"S{number:02d}"
        data["slots"].append(
            {"name": slot, "potentiostat": "bts", "channel": number, "limits": limits}
        )
        data["simulation"]["cells"][slot] = {"preset": "gao2025-dfncm-llzo", "soc": 0.1}
    return tomli_w.dumps(data)


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*CELLBENCH, *args], stdout=subprocess.DEVNULL, stderr=log.open("w"))


def stored(db: Path) -> dict[int, int]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT run_id, MAX(last_record) FROM measurement_chunks GROUP BY run_id"
        ).fetchall()
    return {int(run): int(last) for run, last in rows if last is not None}


async def logged(bench: Any) -> dict[str, int]:
    """Records each channel of the simulated host has logged (slot name -> count)."""
    address = urlparse(bench.simulation.control)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(b'{"query": "state"}\n')
    await writer.drain()
    state = json.loads(await reader.readline())["state"]
    writer.close()
    channels = state["potentiostats"]["bts"]["channels"]
    out = {}
    for slot in bench.slots:
        unit, chl = (slot.channel - 1) // 32 + 1, (slot.channel - 1) % 32 + 1
        out[slot.name] = int(channels[f"1-{unit}-{chl}"]["records"])
    return out


@dataclass
class Result:
    channels: int
    cpu_share: float
    records_per_s: float
    lag_records: float  # mean over channels
    lag_max: int
    exact: bool


async def scenario(channels: int, window_s: float, folder: Path) -> Result:
    from scheduler import queue
    from scheduler.bench import Bench
    from storage import open_store

    folder.mkdir(parents=True)  # noqa: ASYNC240 - before anything runs
    (folder / "bench.toml").write_text(bench_text(channels))
    resolved = folder / "resolved.toml"
    sim = start(
        ["sim", "--bench", str(folder / "bench.toml"), "--write-bench", str(resolved)],
        folder / "sim.log",
    )
    daemon = None
    try:
        while not resolved.exists():  # noqa: ASYNC110 - a file another process writes
            await asyncio.sleep(0.05)
        bench = Bench.load(resolved)
        db = folder / "bench.db"
        store = open_store(f"sqlite:///{db}")
        store.add_cell("c1", active_mass_g=0.0204, area_cm2=1.131, specific_capacity_mAh_g=200)
        for slot in bench.slots:
            queue.submit(
                store,
                bench,
                protocol_path_or_text=PROTOCOL,
                cell_name="c1",
                slot=slot.name,
                by="bench",
            )
        daemon = start(
            ["daemon", "--bench", str(resolved), "--db", f"sqlite:///{db}"], folder / "daemon.log"
        )
        while len(stored(db)) < channels:  # noqa: ASYNC110 - another process writes it
            await asyncio.sleep(0.2)
        await asyncio.sleep(3.0)  # every run past its first downloads
        wall0, cpu0, rec0 = time.monotonic(), cpu_seconds(daemon.pid), stored(db)
        await asyncio.sleep(window_s)
        rec1, cpu1, wall1 = stored(db), cpu_seconds(daemon.pid), time.monotonic()
        cycler = await logged(bench)
        runs = {run.slot: run.id for run in store.list_runs()}
        lags = [cycler[slot] - rec1.get(run, 0) for slot, run in runs.items()]
        stop(daemon)
        exact = True
        for run in runs.values():
            index = store.read_samples(run, columns=("record_index",))["record_index"]
            exact &= bool(len(index)) and list(index) == list(range(1, len(index) + 1))
        return Result(
            channels,
            (cpu1 - cpu0) / (wall1 - wall0),
            sum(rec1[r] - rec0.get(r, 0) for r in rec1) / (wall1 - wall0),
            sum(lags) / len(lags),
            max(lags),
            exact,
        )
    finally:
        if daemon is not None:
            stop(daemon)
        stop(sim)


def report(one: Result, many: Result) -> None:
    per_s = TIME_SCALE / RECORD_S
    rows = [
        ("records stored per wall second", one.records_per_s, many.records_per_s, "{:,.0f}"),
        ("daemon CPU share", one.cpu_share, many.cpu_share, "{:.1%}"),
        ("lag, mean (records)", one.lag_records, many.lag_records, "{:.1f}"),
        ("lag, mean (wall s)", one.lag_records / per_s, many.lag_records / per_s, "{:.2f}"),
        ("lag, worst channel (records)", one.lag_max, many.lag_max, "{:.0f}"),
    ]
    print(f"| figure | 1 channel | {many.channels} channels | × 1 channel |")
    print("|---|---|---|---|")
    for name, a, b, fmt in rows:
        ratio = f"{b / a:.2f}" if a else "–"
        print(f"| {name} | {fmt.format(a)} | {fmt.format(b)} | {ratio} |")
    print(f"| every record stored exactly once | {one.exact} | {many.exact} | – |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--window-s", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = asyncio.run(scenario(1, args.window_s, Path(tmp) / "one"))
        many = asyncio.run(scenario(args.channels, args.window_s, Path(tmp) / "many"))
    report(one, many)


if __name__ == "__main__":
    main()
