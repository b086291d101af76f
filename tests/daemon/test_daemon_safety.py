"""A chamber overshoot makes every cell in that chamber safe within one sample period, and
the latched alarms keep its slots closed until an operator runs `cellbench ack`.

Breach is defined as the supervisor's first chamber reading above the slots' limit; its
reaction time (from that reading to every cell safe) is what the daemon records in the
alarm. From the outside, the simulator's own view is polled too: the air's true crossing
of the limit, and the moment no EmStat4 in the chamber drives its cell any more.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from daemon_bench import CYCLING, add_cells, long_charge, six_slot_bench
from daemon_process import lab, until
from simbench_process import cellbench, control

from scheduler import queue

CHAMBER_A = ["A1", "A2", "A3", "A4"]
PSTATS_A = ["pstat1", "pstat2", "pstat3", "pstat4"]  # the EmStat4s of A1-A4
POLL_S = 0.02


@pytest.mark.slow
async def test_overshoot_makes_the_chamber_safe_and_the_alarm_latches_until_ack(
    tmp_path: Path,
) -> None:
    with lab(six_slot_bench(time_scale=1000.0, sample_period_s=1.0), tmp_path) as the_lab:
        store, bench = the_lab.store, the_lab.bench
        db = the_lab.db
        limit = bench.slot("A1").limits.temperature_max_degC
        period = bench.bench.sample_period_s
        add_cells(store, [*CHAMBER_A, "B1", "new1", "new4"])

        def submit(protocol: str, cell: str, slot: str) -> int:
            return queue.submit(
                store, bench, protocol_path_or_text=protocol, cell_name=cell, slot=slot, by="tech"
            )

        hot = [submit(long_charge(600), slot, slot) for slot in CHAMBER_A]
        other = submit(long_charge(150), "B1", "B1")  # chamberB: must run on untouched
        daemon = the_lab.start_daemon()
        await until(
            lambda: all(
                (r := store.latest_run_for_job(j)) and store.sample_count(r.id) > 20
                for j in [*hot, other]
            ),
            30,
            "every run to record",
            daemon,
        )
        state = (await control(bench, {"query": "state"}))["state"]
        assert all(state["potentiostats"][p]["cell_on"] for p in [*PSTATS_A, "pstat5"])

        # Overshoot: chamberA's controller runs away 50 K above its 25 degC setpoint.
        seen: dict[str, float] = {}

        async def watch() -> None:
            while "safe" not in seen:
                now = time.monotonic()
                state = (await control(bench, {"query": "state"}))["state"]
                if "breach" not in seen and state["chambers"]["chamberA"]["air_degC"] > limit:
                    seen["breach"] = now
                pstats = state["potentiostats"]
                if "breach" in seen and not any(pstats[p]["cell_on"] for p in PSTATS_A):
                    seen["safe"] = now
                    seen["other_on"] = pstats["pstat5"]["cell_on"]
                await asyncio.sleep(POLL_S)

        watcher = asyncio.create_task(watch())
        answer = await control(bench, {"instrument": "chamberA", "fault": "overshoot", "value": 50})
        assert answer["ok"], answer
        await asyncio.wait_for(watcher, 20)
        alarms = await until(
            lambda: (
                len(store.active_alarms(bench.name)) >= len(CHAMBER_A)
                and store.active_alarms(bench.name)
            ),
            10,
            "the alarms",
            daemon,
        )

        # One latched over-temperature alarm per slot of chamberA, none for chamberB.
        assert sorted(a.slot for a in alarms) == CHAMBER_A
        assert {a.kind for a in alarms} == {"over-temperature"}
        reactions = [a.data["reaction_s"] for a in alarms]
        assert all(0 < r <= period + 0.1 for r in reactions), reactions
        # From the outside: the true crossing to every cell off, within one sample period and
        # 100 ms (plus the resolution of this poll, one round each side).
        assert seen["safe"] - seen["breach"] <= period + 0.1 + 2 * POLL_S + 0.05, seen
        assert seen["other_on"]  # the cell in chamberB was never touched
        await until(
            lambda: all(store.get_job(j).state == "failed" for j in hot), 10, "failed", daemon
        )
        for job_id in hot:
            assert store.latest_run_for_job(job_id).status == "safety"
        print("reaction", reactions, "outside", seen["safe"] - seen["breach"])

        # The fault is cleared and the air cools; the alarm still holds the slots.
        assert (await control(bench, {"instrument": "chamberA", "fault": "clear"}))["ok"]
        waiting = [submit(CYCLING, "new1", "A1"), submit(CYCLING, "new4", "A4")]

        async def cooled() -> bool:
            state = (await control(bench, {"query": "state"}))["state"]
            return state["chambers"]["chamberA"]["air_degC"] < limit - 5

        deadline = time.monotonic() + 20
        while not await cooled() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        assert await cooled()
        await asyncio.sleep(5 * 0.2)  # several of the daemon's claim rounds
        for job_id in waiting:
            assert store.get_job(job_id).state == "queued"
            assert store.latest_run_for_job(job_id) is None
        assert len(store.active_alarms(bench.name)) == len(CHAMBER_A)

        asked_at = time.time()  # the ack commits before its process exits, however slowly
        acked = await asyncio.to_thread(
            cellbench,
            "ack",
            "--all",
            "--bench",
            bench.name,
            "--by",
            "operator",
            "--db",
            db,
            "--json",
        )
        assert acked.returncode == 0, acked.stderr
        assert sorted(a["slot"] for a in json.loads(acked.stdout)["acknowledged"]) == CHAMBER_A
        await until(
            lambda: all(store.get_job(j).state == "completed" for j in [*waiting, other]),
            60,
            "the jobs after the ack",
            daemon,
        )
        for job_id in waiting:
            assert store.latest_run_for_job(job_id).started_at >= asked_at
        assert store.active_alarms(bench.name) == []
