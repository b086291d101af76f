"""Estimated start and completion: the jobs ahead on the same slot, then the job itself."""

from __future__ import annotations

import json
import time

import pytest
from queue_fixtures import claim_next, protocol_text

from scheduler import queue
from storage import Store

HOUR = 3600.0


def _rest_job(store: Store, bench, hours: float, **kw) -> int:
    return queue.submit(
        store,
        bench,
        protocol_path_or_text=protocol_text("rest"),
        cell_name="C1",
        by="kim",
        overrides={"hours": f"{hours} h"},
        **kw,
    )


def test_completion_adds_the_jobs_ahead_on_the_same_slot(store: Store, bench) -> None:
    running = _rest_job(store, bench, 4, slot="A2")
    job = claim_next(store, "A2", bench_name="test-bench", daemon="pc-1")
    assert job.id == running
    # The daemon reports 1 h left on A2.
    store.upsert_slot_state("test-bench", "A2", state="running", job_id=running, remaining_s=HOUR)
    low = _rest_job(store, bench, 2, slot="A2")
    high = _rest_job(store, bench, 3, slot="A2", priority=5)
    other = _rest_job(store, bench, 5, slot="A1")
    held = _rest_job(store, bench, 1, slot="A2", hold=True)
    now = time.time()
    fc = queue.forecast(store, now=now)
    assert fc[running].end == pytest.approx(now + 1 * HOUR, abs=5)
    # high priority runs next on A2, then the older low-priority job.
    assert fc[high].start == pytest.approx(now + 1 * HOUR, abs=5)
    assert fc[high].end == pytest.approx(now + 4 * HOUR, abs=5)
    assert fc[low].start == pytest.approx(fc[high].end)
    assert fc[low].end == pytest.approx(now + 6 * HOUR, abs=5)
    # A1 is free: its job starts now.
    assert fc[other].start == pytest.approx(now, abs=1)
    assert fc[other].end == pytest.approx(now + 5 * HOUR, abs=5)
    assert held not in fc  # a held job has no forecast until it is released


def test_running_job_without_a_report_uses_elapsed_time(store: Store, bench) -> None:
    job = _rest_job(store, bench, 2, slot="A2")
    claim_next(store, "A2", bench_name="test-bench", daemon="pc-1")
    start = store.job_history(job)[-1].at
    fc = queue.forecast(store, now=start + 0.5 * HOUR)
    assert fc[job].remaining_s == pytest.approx(1.5 * HOUR, abs=1)
    # The daemon's progress fraction wins over elapsed time when it reports one.
    store.upsert_slot_state("test-bench", "A2", job_id=job, progress=0.25)
    fc = queue.forecast(store, now=start + 0.5 * HOUR)
    assert fc[job].remaining_s == pytest.approx(0.75 * 2 * HOUR, abs=1)


def test_any_slot_jobs_take_the_slot_that_frees_first(store: Store, bench) -> None:
    a2 = _rest_job(store, bench, 3, slot="A2")
    a1 = _rest_job(store, bench, 1, slot="A1")
    anywhere = _rest_job(store, bench, 2)  # fits A1, A2 and B2
    now = time.time()
    fc = queue.forecast(store, now=now)
    assert fc[anywhere].slot == "B2" and fc[anywhere].start == pytest.approx(now, abs=1)
    eis = queue.submit(
        store, bench, protocol_path_or_text=protocol_text("eis"), cell_name="C1", by="kim"
    )  # A1 or A2 only
    fc = queue.forecast(store, now=now)
    assert fc[eis].slot == "A1"  # A1 frees after 1 h, A2 after 3 h
    assert fc[eis].start == pytest.approx(fc[a1].end)
    assert fc[a2].end > fc[a1].end


def test_queue_list_shows_local_times_in_run_order(cli, store: Store, bench) -> None:
    first = _rest_job(store, bench, 2, slot="A2")
    second = _rest_job(store, bench, 1, slot="A2", priority=1)
    done = _rest_job(store, bench, 1, slot="B2")
    store.set_job_state(done, "completed", by="pc-1")
    code, out, err = cli("queue", "list", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["id"] for r in rows] == [second, first]  # finished jobs only with --all
    ends = [r["estimated_completion_unix"] for r in rows]
    assert ends[1] - ends[0] == pytest.approx(2 * HOUR, abs=5)
    local = time.strftime("%z")
    assert rows[0]["estimated_completion"].replace(":", "").endswith(local)
    code, out, err = cli("queue", "list", "--all", "--json")
    assert [r["id"] for r in json.loads(out)] == [second, first, done]
    code, out, err = cli("queue", "list")
    assert code == 0 and "plain-rest" in out and "queued" in out
