"""The safety supervisor's reaction time, alone on the database and while another process
holds SQLite's write lock.

The setup is the daemon safety test's (tests/daemon/test_daemon_safety.py), whose helpers
this script imports: `cellbench sim --bench` serving the six-slot test bench (A1-A4 in
chamberA, time scale 1000, one sample per wall second) and `cellbench daemon` on a SQLite
file, as separate processes. Each trip queues a fresh slow charge on A1-A4, waits until all
four runs store samples and their EmStat4s drive their cells, then makes chamberA's
controller run away 50 K above its 25 degC setpoint through the simulator's control
endpoint, while polling the simulator's `state` every 20 ms. Per trip:

- **reaction** is the `reaction_s` the daemon stores in the trip's alarms: from the
  supervisor's reading above the limit to every cell of the chamber safe;
- **breach -> last EmStat4 off** is, from the simulator's own view, the air's first poll
  above the slots' 70 degC limit to the first poll with no EmStat4 of chamberA driving
  its cell (it includes the wait for the supervisor's next chamber reading, up to one
  sample period);
- **breach -> alarms stored** is the same breach to the first time a reader polling the
  database every 20 ms finds the four alarms committed.

Then the fault is cleared, the air cools below 30 degC, the alarms are acknowledged
(`queue.ack`) and the next trip follows. Two scenarios, alternated trip by trip in the same
run: *baseline*, nothing else on the database; *contended*, a separate process holds
SQLite's write lock in a loop (`BEGIN IMMEDIATE`, sleep `--hold-s`, `COMMIT`, sleep
`--gap-s` so the daemon's writers get their turns). In both, the fault is injected after a
random wait of 0 to three lock cycles (6.3 s; when contended, from the moment the locker has
taken the lock), so the breach falls at a random point of the supervisor's cadence and of
the daemon's own periodic writes (each slot's state every 5 s) and, when contended, almost
always during a hold (the report counts the trips whose detection, every cell safe minus
the reaction, came while the lock was held).

    .venv/bin/python benchmarks/bench_safety.py [--trips 20] [--hold-s 2] [--gap-s 0.1]

About 6 minutes; needs no broker (telemetry is off).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "daemon"))

from daemon_bench import add_cells, long_charge, six_slot_bench  # noqa: E402
from daemon_process import DaemonProcess, start_daemon, stop_daemon  # noqa: E402
from simbench_process import control, start_sim, stop_sim  # noqa: E402

CHAMBER_A = ["A1", "A2", "A3", "A4"]
PSTATS_A = ["pstat1", "pstat2", "pstat3", "pstat4"]  # the EmStat4s of A1-A4
POLL_S = 0.02
COOL_DEGC = 30.0
SPREAD_CYCLES = 3  # the fault comes at a random moment of this many lock cycles
# 0.01C for up to 100 h: a trip drives the cells for a few wall seconds (1-2 % of state of
# charge at time scale 1000). Pairs of trips alternate charge and discharge, so the cells
# stay near half charge however many trips there are.
CHARGE = long_charge(6000, rate="0.01C", name="slow-charge")
DISCHARGE = CHARGE.replace("charge", "discharge").replace(">= 4.3 V", "<= 3.0 V")
# Holds SQLite's write lock in a loop and says when (CLOCK_MONOTONIC, shared by processes).
LOCKER = """
import sqlite3, sys, time
hold, gap = float(sys.argv[2]), float(sys.argv[3])
conn = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
while True:
    conn.execute("BEGIN IMMEDIATE")
    print("hold", time.monotonic(), flush=True)
    time.sleep(hold)
    conn.execute("COMMIT")
    print("free", time.monotonic(), flush=True)
    time.sleep(gap)
"""


@dataclass
class Trip:
    scenario: str
    reaction_s: float
    breach_to_off_s: float
    breach_to_alarms_s: float
    inside_hold: bool | None = None  # contended: the supervisor's detection during a hold


@dataclass
class Locker:
    process: asyncio.subprocess.Process
    holds: list[tuple[float, float]] = field(default_factory=list)  # (taken, released)
    reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, db: Path, hold_s: float, gap_s: float) -> Locker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            LOCKER,
            str(db),
            str(hold_s),
            str(gap_s),
            stdout=asyncio.subprocess.PIPE,
        )
        locker = cls(process)
        taken = asyncio.get_running_loop().create_future()

        async def read() -> None:
            assert process.stdout is not None
            async for line in process.stdout:
                what, stamp = line.decode().split()
                if what == "hold":
                    locker.holds.append((float(stamp), float("inf")))
                    if not taken.done():
                        taken.set_result(None)
                else:
                    locker.holds[-1] = (locker.holds[-1][0], float(stamp))

        locker.reader = asyncio.create_task(read())
        await asyncio.wait_for(taken, 60)
        return locker

    def covers(self, moment: float) -> bool:
        return any(taken <= moment <= released for taken, released in self.holds)

    async def stop(self) -> None:
        self.process.terminate()  # the OS drops its lock; the open transaction rolls back
        await self.process.wait()
        if self.reader is not None:
            await self.reader


async def until(predicate: Any, timeout_s: float, what: str, daemon: DaemonProcess) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        if daemon.process.poll() is not None:
            sys.exit(f"the daemon exited while waiting for {what}:\n{daemon.output()[-3000:]}")
        await asyncio.sleep(POLL_S)
    sys.exit(f"timed out waiting for {what}:\n{daemon.output()[-3000:]}")


async def sim_state(bench: Any) -> dict[str, Any]:
    return (await control(bench, {"query": "state"}))["state"]


async def pstats(bench: Any) -> dict[str, Any]:
    return (await sim_state(bench))["potentiostats"]


async def watch(bench: Any, limit: float, seen: dict[str, float]) -> None:
    """The simulator's view: the air's first poll above `limit`, then every cell off."""
    while "off" not in seen:
        now = time.monotonic()
        state = await sim_state(bench)
        if "breach" not in seen and state["chambers"]["chamberA"]["air_degC"] > limit:
            seen["breach"] = now
        pstats = state["potentiostats"]
        if "breach" in seen and not any(pstats[p]["cell_on"] for p in PSTATS_A):
            seen["off"] = now
        await asyncio.sleep(POLL_S)


async def one_trip(
    number: int, scenario: str, ctx: dict[str, Any], hold_s: float, gap_s: float
) -> Trip:
    from scheduler import queue

    store, bench, daemon, db = ctx["store"], ctx["bench"], ctx["daemon"], ctx["db"]
    limit = bench.slot("A1").limits.temperature_max_degC
    cells = [f"{slot}-t{number}" for slot in CHAMBER_A]
    add_cells(store, cells)
    protocol = DISCHARGE if number // 2 % 2 else CHARGE  # a baseline and a contended trip each
    jobs = [
        queue.submit(
            store, bench, protocol_path_or_text=protocol, cell_name=cell, slot=slot, by="benchmark"
        )
        for cell, slot in zip(cells, CHAMBER_A, strict=True)
    ]

    def storing() -> bool:
        runs = [store.latest_run_for_job(j) for j in jobs]
        return all(r is not None and store.sample_count(r.id) > 5 for r in runs)

    await until(storing, 60, "the trip's runs to store samples", daemon)
    deadline = time.monotonic() + 20
    while not all(s["cell_on"] for p, s in (await pstats(bench)).items() if p in PSTATS_A):
        if time.monotonic() > deadline:
            sys.exit("chamberA's EmStat4s did not turn their cells on")
        await asyncio.sleep(POLL_S)
    locker = await Locker.start(db, hold_s, gap_s) if scenario == "contended" else None
    # The locker takes the lock just after one of the daemon's commits, in step with the
    # daemon's own timers; a random wait unties the trip from the supervisor's cadence and
    # from the daemon's periodic writes (each slot's state every 5 s).
    await asyncio.sleep(random.Random(number).uniform(0.0, SPREAD_CYCLES * (hold_s + gap_s)))
    seen: dict[str, float] = {}
    watcher = asyncio.create_task(watch(bench, limit, seen))

    def alarms_stored() -> bool:
        if len(store.active_alarms(bench.name)) >= len(CHAMBER_A):
            seen["alarms"] = time.monotonic()
            return True
        return False

    try:
        answer = await control(bench, {"instrument": "chamberA", "fault": "overshoot", "value": 50})
        if not answer.get("ok"):
            sys.exit(f"the fault was refused: {answer}")
        await asyncio.wait_for(watcher, 30)
        await until(alarms_stored, 30, "the trip's alarms", daemon)
    finally:
        if locker is not None:
            await locker.stop()
    alarms = store.active_alarms(bench.name)
    if sorted(a.slot for a in alarms) != CHAMBER_A or {a.kind for a in alarms} != {
        "over-temperature"
    }:
        sys.exit(f"unexpected alarms: {[(a.slot, a.kind) for a in alarms]}")
    reactions = [a.data["reaction_s"] for a in alarms]
    await until(
        lambda: all(store.get_job(j).state == "failed" for j in jobs), 30, "failed jobs", daemon
    )

    # Reset for the next trip: fault cleared, air cooled, alarms acknowledged.
    assert (await control(bench, {"instrument": "chamberA", "fault": "clear"}))["ok"]
    deadline = time.monotonic() + 120
    while (await sim_state(bench))["chambers"]["chamberA"]["air_degC"] > COOL_DEGC:
        if time.monotonic() > deadline:
            sys.exit("chamberA did not cool down")
        await asyncio.sleep(0.1)
    queue.ack(store, "all", by="benchmark", bench=bench.name)
    return Trip(
        scenario=scenario,
        reaction_s=max(reactions),
        breach_to_off_s=seen["off"] - seen["breach"],
        breach_to_alarms_s=seen["alarms"] - seen["breach"],
        inside_hold=locker.covers(seen["off"] - max(reactions)) if locker else None,
    )


async def run(trips: int, hold_s: float, gap_s: float, folder: Path) -> list[Trip]:
    from scheduler.bench import Bench
    from storage import open_store

    sim = start_sim(six_slot_bench(time_scale=1000.0, sample_period_s=1.0), folder)
    db = folder / "lab.db"
    store = open_store(f"sqlite:///{db}")
    daemon = None
    results: list[Trip] = []
    try:
        bench = Bench.load(sim.resolved)
        daemon = start_daemon(sim.resolved, f"sqlite:///{db}", folder)
        ctx = {"store": store, "bench": bench, "daemon": daemon, "db": db}
        for number in range(trips):
            for scenario in ("baseline", "contended"):  # alternated: both see the same load
                trip = await one_trip(len(results), scenario, ctx, hold_s, gap_s)
                results.append(trip)
                held = "" if trip.inside_hold is None else f", during a hold: {trip.inside_hold}"
                print(
                    f"trip {number + 1} {scenario}: reaction {trip.reaction_s * 1e3:.0f} ms, "
                    f"breach -> off {trip.breach_to_off_s * 1e3:.0f} ms, "
                    f"breach -> alarms stored {trip.breach_to_alarms_s * 1e3:.0f} ms{held}",
                    flush=True,
                )
    finally:
        if daemon is not None:
            stop_daemon(daemon)
        stop_sim(sim)
        store.close()
    return results


def report(results: list[Trip], hold_s: float, gap_s: float) -> None:
    base = [t for t in results if t.scenario == "baseline"]
    busy = [t for t in results if t.scenario == "contended"]
    print(
        f"\n{len(base)} trips each; contended: write lock held {hold_s:g} s, free {gap_s:g} s; "
        f"trips detected during a hold: {sum(bool(t.inside_hold) for t in busy)}/{len(busy)}"
    )
    print("| figure (ms) | baseline | write lock held | × baseline | baseline max | held max |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, key in (
        ("reaction (detection -> every cell safe), median", "reaction_s"),
        ("breach -> last EmStat4 off, median", "breach_to_off_s"),
        ("breach -> alarms stored, median", "breach_to_alarms_s"),
    ):
        a, b = ([getattr(t, key) * 1e3 for t in ts] for ts in (base, busy))
        ratio = statistics.median(b) / statistics.median(a)
        print(
            f"| {label} | {statistics.median(a):.0f} | {statistics.median(b):.0f} | {ratio:.2f} "
            f"| {max(a):.0f} | {max(b):.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trips", type=int, default=20, help="trips per scenario")
    parser.add_argument("--hold-s", type=float, default=2.0)
    parser.add_argument("--gap-s", type=float, default=0.1)
    args = parser.parse_args()
    # The helpers start `python -c "from scheduler.cli import main; ..."`: this checkout.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="bench-safety-") as tmp:
        results = asyncio.run(run(args.trips, args.hold_s, args.gap_s, Path(tmp)))
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    report(results, args.hold_s, args.gap_s)


if __name__ == "__main__":
    main()
