"""The bench daemon under load: CPU share, sample latency and memory, 64 slots against one.

Each scenario starts, as separate processes, `cellbench sim --bench` serving N EmStat4
simulators, a private Mosquitto on a free port, and `cellbench daemon` with telemetry on
and a SQLite database, then queues one long CC cycling job per slot (from 10 % SOC, 0.5C
charge and 0.5C discharge of 90 min each, 4.3 V and 3.0 V as backstops, a point every 10 s,
500 cycles: it never finishes during the measurement). After a warm-up in which every slot
has started storing, it measures for a fixed wall-clock window:

- **CPU share**: the daemon process's user + system CPU time over wall time, read from
  /proc/<pid>/stat every second; the figure is the median over 10 s windows, as a share
  of one core;
- **latency**: t0 is the daemon's wall-clock stamp `ts` on a slot's live data message,
  taken when its runner hands that sample to telemetry (the same moment the sample joins
  the batch for storage); *sample -> MQTT* is the subscriber's receive time minus t0;
  *sample -> stored* is the first time a reader polling the database every 50 ms (which
  bounds the resolution) finds that sample's record_index committed for its run, minus
  t0. The hop from the simulator's socket to the runner is not included: the simulator
  does not stamp its packages with wall time;
- **memory**: the daemon's resident set (VmRSS) at the start and the end of the window.

The memory scenario runs the same bench at a higher time scale for `--days` simulated days
and reports RSS growth per simulated day (a week at time scale 100 would take 100 minutes).

    .venv/bin/python benchmarks/bench_daemon.py [--slots 64] [--window-s 60]
        [--day-scale 5000] [--days 7] [--skip-memory | --memory-only]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from processes import CELLBENCH, cpu_seconds, stop  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
DB_POLL_S = 0.05
PROTOCOL = """
name: long-cycling
c_rate_basis: 200 mA/g
safety: {{voltage_min: 2.5 V, voltage_max: 4.4 V, abs_current_max: 1C}}
steps:
  - repeat:
      times: 500
      steps:
        - cc:
            rate: 0.5C
            direction: charge
            until: [{{step_time: ">= 90 min"}}, {{voltage: ">= 4.3 V"}}]
            record: {{dt: {dt}}}
        - cc:
            rate: 0.5C
            direction: discharge
            until: [{{step_time: ">= 90 min"}}, {{voltage: "<= 3.0 V"}}]
            record: {{dt: {dt}}}
        - advance_cycle: {{}}
"""


# -- processes ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_broker(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    exe = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
    if exe is None:
        sys.exit("bench_daemon needs the mosquitto executable (apt install mosquitto)")
    port = free_port()
    config = folder / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    process = subprocess.Popen([exe, "-c", str(config)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return process, port
        time.sleep(0.05)
    process.kill()
    sys.exit("mosquitto did not start")


def bench_text(slots: int, name: str, time_scale: float, broker_port: int) -> str:
    import tomli_w

    data: dict[str, Any] = {
        "bench": {"name": name, "recovery": "auto", "sample_period_s": 1.0},
        "telemetry": {"broker": f"mqtt://127.0.0.1:{broker_port}"},
        "instruments": {},
        "slots": [],
        "simulation": {"time_scale": time_scale, "control": "tcp://127.0.0.1:0", "cells": {}},
    }
    limits = {"voltage_min_V": 2.5, "voltage_max_V": 4.4, "abs_current_max_A": 0.02}
    for index in range(1, slots + 1):
        slot = f"S{index:02d}"
        data["instruments"][f"pstat{index}"] = {"kind": "emstat4", "endpoint": "tcp://127.0.0.1:0"}
        data["slots"].append({"name": slot, "potentiostat": f"pstat{index}", "limits": limits})
        data["simulation"]["cells"][slot] = {"preset": "gao2025-dfncm-llzo", "soc": 0.1}
    return tomli_w.dumps(data)


def start_sim(text: str, folder: Path) -> tuple[subprocess.Popen[bytes], Path]:
    source, resolved = folder / "bench.toml", folder / "resolved.toml"
    source.write_text(text)
    process = subprocess.Popen(
        [*CELLBENCH, "sim", "--bench", str(source), "--write-bench", str(resolved)],
        stdout=subprocess.DEVNULL,
        stderr=(folder / "sim.log").open("w"),
    )
    deadline = time.monotonic() + 60
    while not resolved.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            sys.exit(f"cellbench sim did not start:\n{(folder / 'sim.log').read_text()}")
        time.sleep(0.05)
    return process, resolved


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


# -- one scenario -------------------------------------------------------------------------
@dataclass
class Result:
    slots: int
    time_scale: float
    window_s: float
    cpu_share: float  # median over 10 s windows, of one core
    samples_per_s: float  # stored by the daemon during the window
    mqtt_ms: list[float] = field(default_factory=list)
    stored_ms: list[float] = field(default_factory=list)
    rss_start: int = 0
    rss_end: int = 0
    stop_s: float = 0.0  # SIGTERM to exit, with every run marked interrupted

    @property
    def simulated_days(self) -> float:
        return self.window_s * self.time_scale / 86400.0


def stored_records(db: Path) -> dict[int, int]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT run_id, MAX(last_record) FROM measurement_chunks GROUP BY run_id"
        ).fetchall()
    return {int(run): int(last) for run, last in rows if last is not None}


async def scenario(
    slots: int, time_scale: float, window_s: float, folder: Path, *, dt_s: float = 10.0
) -> Result:
    import aiomqtt

    from scheduler import queue
    from scheduler.bench import Bench
    from storage import open_store

    folder.mkdir(parents=True)  # noqa: ASYNC240 - before anything runs
    name = f"bench{slots}x{int(time_scale)}"
    broker, port = start_broker(folder)
    sim, resolved = start_sim(bench_text(slots, name, time_scale, port), folder)
    db = folder / "lab.db"
    daemon: subprocess.Popen[bytes] | None = None
    messages: list[tuple[float, dict[str, Any]]] = []
    polls: dict[int, tuple[list[float], list[int]]] = {}
    try:
        store = open_store(f"sqlite:///{db}")
        bench = Bench.load(resolved)
        for slot in bench.slots:
            store.add_cell(f"cell-{slot.name}", active_mass_g=0.0204, specific_capacity_mAh_g=200.0)
            queue.submit(
                store,
                bench,
                protocol_path_or_text=PROTOCOL.format(dt=f"{dt_s:g} s"),
                cell_name=f"cell-{slot.name}",
                slot=slot.name,
                by="benchmark",
            )
        store.close()
        async with aiomqtt.Client("127.0.0.1", port) as client:
            await client.subscribe(f"cellbench/v1/{name}/slot/+/data", qos=0)

            async def receive() -> None:
                async for message in client.messages:
                    messages.append((time.time(), json.loads(message.payload)))  # type: ignore[arg-type]

            receiver = asyncio.create_task(receive())
            daemon = subprocess.Popen(  # noqa: ASYNC220 - starting it does not wait
                [*CELLBENCH, "daemon", "--bench", str(resolved), "--db", f"sqlite:///{db}"],
                stderr=(folder / "daemon.log").open("w"),
            )
            # Warm-up: every slot's run is storing samples.
            deadline = time.monotonic() + 120
            while len(stored_records(db) if db.exists() else {}) < slots:
                if daemon.poll() is not None or time.monotonic() > deadline:
                    log = (folder / "daemon.log").read_text()[-3000:]
                    sys.exit(f"the daemon did not start its runs:\n{log}")
                await asyncio.sleep(0.2)
            await asyncio.sleep(2.0)
            messages.clear()
            pid = daemon.pid
            start_wall, start_cpu, start_rss = time.monotonic(), cpu_seconds(pid), rss_bytes(pid)
            start_records = sum(stored_records(db).values())
            ticks: list[tuple[float, float]] = [(start_wall, start_cpu)]
            next_tick = start_wall + 1.0
            while (now := time.monotonic()) < start_wall + window_s:
                stamp = time.time()
                for run, last in (await asyncio.to_thread(stored_records, db)).items():
                    times, records = polls.setdefault(run, ([], []))
                    times.append(stamp)
                    records.append(last)
                if now >= next_tick:
                    ticks.append((now, cpu_seconds(pid)))
                    next_tick += 1.0
                await asyncio.sleep(DB_POLL_S)
            end_wall, end_cpu, end_rss = time.monotonic(), cpu_seconds(pid), rss_bytes(pid)
            end_records = sum(stored_records(db).values())
            ticks.append((end_wall, end_cpu))
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiver
    finally:
        stop_s = stop(daemon) if daemon is not None else float("nan")
        stop(sim)
        stop(broker)

    shares = []
    for i in range(0, len(ticks) - 10, 10):
        (w0, c0), (w1, c1) = ticks[i], ticks[i + 10]
        shares.append((c1 - c0) / (w1 - w0))
    if not shares:
        shares = [(end_cpu - start_cpu) / (end_wall - start_wall)]
    result = Result(
        slots=slots,
        time_scale=time_scale,
        window_s=end_wall - start_wall,
        cpu_share=statistics.median(shares),
        samples_per_s=(end_records - start_records) / (end_wall - start_wall),
        rss_start=start_rss,
        rss_end=end_rss,
        stop_s=stop_s,
    )
    for received, data in messages:
        t0 = datetime.fromisoformat(data["ts"]).timestamp()
        result.mqtt_ms.append((received - t0) * 1e3)
        times, records = polls.get(data.get("run"), ([], []))
        # The first poll that found this record committed (records only grow).
        k = bisect.bisect_left(records, data["record_index"])
        if k < len(records) and times[k] >= t0 - 1.0:
            result.stored_ms.append(max(0.0, times[k] - t0) * 1e3)
    return result


# -- report -------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def latency_rows(
    label: str, one: list[float], many: list[float], fmt: str
) -> list[tuple[str, float, float, str]]:
    """The median and p99 rows of one latency, for 1 slot and for many."""
    return [
        (f"{label}, {name} (ms)", percentile(one, q), percentile(many, q), fmt)
        for name, q in (("median", 50), ("p99", 99))
    ]


def report(load: list[Result], memory: list[Result]) -> None:
    base, many = load
    print(f"\nDaemon load at time scale {many.time_scale:g}, {many.window_s:.0f} s windows")
    print(f"| figure | 1 slot | {many.slots} slots | ratio |")
    print("|---|---:|---:|---:|")
    rows = [
        ("samples stored per wall second", base.samples_per_s, many.samples_per_s, "{:,.0f}"),
        ("daemon CPU share (median of 10 s windows)", base.cpu_share, many.cpu_share, "{:.1%}"),
        *latency_rows("sample -> MQTT", base.mqtt_ms, many.mqtt_ms, "{:.1f}"),
        *latency_rows("sample -> stored", base.stored_ms, many.stored_ms, "{:.0f}"),
        ("RSS at the end (MiB)", base.rss_end / 2**20, many.rss_end / 2**20, "{:.1f}"),
        ("graceful stop, SIGTERM to exit (s)", base.stop_s, many.stop_s, "{:.2f}"),
    ]
    for label, one, n, fmt in rows:
        ratio = n / one if one else float("nan")
        print(f"| {label} | {fmt.format(one)} | {fmt.format(n)} | {ratio:.2f} |")
    print(
        f"latency samples: MQTT {len(base.mqtt_ms)} / {len(many.mqtt_ms)}, "
        f"stored {len(base.stored_ms)} / {len(many.stored_ms)}"
    )
    if memory:
        report_memory(memory)


def report_memory(memory: list[Result]) -> None:
    one, n = memory
    print(f"\nMemory over {n.simulated_days:.2f} simulated days at time scale {n.time_scale:g}")
    print(f"| figure | 1 slot | {n.slots} slots |")
    print("|---|---:|---:|")
    for r_label, key in (
        ("RSS at the start (MiB)", "rss_start"),
        ("RSS at the end (MiB)", "rss_end"),
    ):
        print(f"| {r_label} | {getattr(one, key) / 2**20:.1f} | {getattr(n, key) / 2**20:.1f} |")
    growth = [(r.rss_end - r.rss_start) / 2**20 / r.simulated_days for r in (one, n)]
    print(f"| RSS growth per simulated day (MiB) | {growth[0]:.2f} | {growth[1]:.2f} |")
    rates = f"{one.samples_per_s:,.0f} | {n.samples_per_s:,.0f}"
    print(f"| samples stored per wall second | {rates} |")
    print(f"| daemon CPU share | {one.cpu_share:.1%} | {n.cpu_share:.1%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=64)
    parser.add_argument("--time-scale", type=float, default=100.0)
    parser.add_argument("--window-s", type=float, default=60.0)
    parser.add_argument("--day-scale", type=float, default=5000.0)
    parser.add_argument("--days", type=float, default=7.0, help="simulated days for memory")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-daemon-") as tmp:
        folder = Path(tmp)
        load = []
        if not args.memory_only:
            load = [
                asyncio.run(scenario(n, args.time_scale, args.window_s, folder / f"load{n}"))
                for n in (1, args.slots)
            ]
        memory = []
        if not args.skip_memory:
            # --days simulated days at --day-scale, recording every
            # 10 s x day-scale / time-scale, so that the daemon handles as many samples per
            # wall second as in the load runs (a simulated week at time scale 100 would take
            # 100 minutes of wall time per run).
            span_s = args.days * 86400.0 / args.day_scale
            dt_s = 10.0 * args.day_scale / args.time_scale
            memory = [
                asyncio.run(scenario(n, args.day_scale, span_s, folder / f"memory{n}", dt_s=dt_s))
                for n in (1, args.slots)
            ]
    if load:
        report(load, memory)
    else:
        report_memory(memory)


if __name__ == "__main__":
    main()
