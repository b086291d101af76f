"""Estimated start and completion: the jobs ahead on the same slot, then the job itself."""

from __future__ import annotations

import json
import time

import pytest
from queue_fixtures import claim_next

from scheduler import queue
from storage import Store

HOUR = 3600.0


def test_completion_adds_the_jobs_ahead_on_the_same_slot(store: Store, submit) -> None:
    running = submit(overrides={"hours": "4 h"}, slot="A2")
    job = claim_next(store, "A2", bench_name="test-bench", daemon="pc-1")
    assert job.id == running
    # The daemon reports 1 h left on A2.
    store.upsert_slot_state("test-bench", "A2", state="running", job_id=running, remaining_s=HOUR)
    low = submit(overrides={"hours": "2 h"}, slot="A2")
    high = submit(overrides={"hours": "3 h"}, slot="A2", priority=5)
    other = submit(overrides={"hours": "5 h"}, slot="A1")
    held = submit(overrides={"hours": "1 h"}, slot="A2", hold=True)
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


def test_running_job_without_a_report_uses_elapsed_time(store: Store, submit) -> None:
    job = submit(overrides={"hours": "2 h"}, slot="A2")
    claim_next(store, "A2", bench_name="test-bench", daemon="pc-1")
    start = store.job_history(job)[-1].at
    fc = queue.forecast(store, now=start + 0.5 * HOUR)
    assert fc[job].remaining_s == pytest.approx(1.5 * HOUR, abs=1)
    # The daemon's progress fraction wins over elapsed time when it reports one.
    store.upsert_slot_state("test-bench", "A2", job_id=job, progress=0.25)
    fc = queue.forecast(store, now=start + 0.5 * HOUR)
    assert fc[job].remaining_s == pytest.approx(0.75 * 2 * HOUR, abs=1)


def test_any_slot_jobs_take_the_slot_that_frees_first(store: Store, submit) -> None:
    a2 = submit(overrides={"hours": "3 h"}, slot="A2")
    a1 = submit(overrides={"hours": "1 h"}, slot="A1")
    anywhere = submit(overrides={"hours": "2 h"})  # fits A1, A2 and B2
    now = time.time()
    fc = queue.forecast(store, now=now)
    assert fc[anywhere].slot == "B2" and fc[anywhere].start == pytest.approx(now, abs=1)
    eis = submit("eis")  # A1 or A2 only
    fc = queue.forecast(store, now=now)
    assert fc[eis].slot == "A1"  # A1 frees after 1 h, A2 after 3 h
    assert fc[eis].start == pytest.approx(fc[a1].end)
    assert fc[a2].end > fc[a1].end


def test_queue_list_shows_local_times_in_run_order(cli, store: Store, submit) -> None:
    first = submit(overrides={"hours": "2 h"}, slot="A2")
    second = submit(overrides={"hours": "1 h"}, slot="A2", priority=1)
    done = submit(overrides={"hours": "1 h"}, slot="B2")
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
