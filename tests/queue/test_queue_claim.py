"""Claiming: priority then FIFO, only slots the daemon offers, and never the same job twice."""

from __future__ import annotations

import threading
import time

import pytest
from queue_fixtures import claim_next

from protocols.estimate import estimate
from scheduler import queue
from scheduler.binding import bind_job
from storage import Store, open_store


def _claim(store: Store, *slots: str, daemon: str = "pc-1"):
    return claim_next(store, *slots, daemon=daemon)


def test_priority_first_then_first_in_first_out(store: Store, submit) -> None:
    a = submit(slot="A2")
    b = submit(slot="A2", priority=5)
    c = submit(slot="A2")
    d = submit(slot="A2", priority=5)
    e = submit(slot="A2", priority=-1)
    held = submit(slot="A2", priority=9, hold=True)
    order = []
    while (job := _claim(store, "A2")) is not None:
        order.append(job.id)
        queue.finish(store, job.id, "completed", by="pc-1")
    assert order == [b, d, a, c, e]  # the held job never starts
    assert store.get_job(held).state == "held"
    assert [j.id for j in store.list_jobs(["queued"])] == []


def test_claims_only_for_offered_slots_and_this_bench(store: Store, bench, submit) -> None:
    on_a1 = submit(slot="A1", priority=3)
    on_b2 = submit(slot="B2", priority=2)
    other = store.add_job(protocol_id=None, cell_id=None, slot="A2", priority=9, bench="bench-2")
    assert _claim(store, "A2") is None  # bench-2's A2 is another slot
    job = _claim(store, "B2", "A2")
    assert (job.id, job.slot, job.state, job.claimed_by) == (on_b2, "B2", "running", "pc-1")
    assert _claim(store) is None  # no free slot, nothing claimed
    assert store.get_job(on_a1).state == "queued"
    assert store.get_job(other).state == "queued"
    got = claim_next(store, "A2", bench_name="bench-2", daemon="pc-2")
    assert got.id == other


def test_any_slot_job_goes_to_a_slot_that_fits(store: Store, submit) -> None:
    hot = submit("hot", priority=5)  # fits only A1 (the chamber)
    eis = submit("eis")  # fits A1 and A2, never the Keithley
    assert _claim(store, "B2") is None
    job = _claim(store, "B2", "A2")
    assert (job.id, job.slot) == (eis, "A2")  # the hot job is skipped, not blocking
    assert store.get_job(hot).slot is None
    job = _claim(store, "A1")
    assert (job.id, job.slot) == (hot, "A1")
    history = store.job_history(hot)
    assert history[-1].to_state == "running" and "slot A1" in history[-1].note


def test_concurrent_claims_never_share_a_job(db_url: str, store: Store, submit) -> None:
    jobs = {submit(slot="A2", priority=i % 3) for i in range(24)}
    got: dict[str, list[int]] = {}
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def daemon(name: str) -> None:
        mine: list[int] = []
        try:
            with open_store(db_url) as own:  # each daemon has its own connections
                barrier.wait()
                while (job := _claim(own, "A2", daemon=name)) is not None:
                    mine.append(job.id)
        except BaseException as exc:
            errors.append(exc)
        got[name] = mine

    threads = [threading.Thread(target=daemon, args=(f"pc-{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    claimed = [j for mine in got.values() for j in mine]
    assert sorted(claimed) == sorted(jobs)  # every job once, none twice
    for name, mine in got.items():
        for job_id in mine:
            job = store.get_job(job_id)
            assert job.claimed_by == name and job.state == "running"
            assert [h.to_state for h in store.job_history(job_id)].count("running") == 1


@pytest.mark.postgres
def test_postgres_skips_a_job_another_daemon_has_locked(
    pg_session_url: str, db_url: str, store: Store, submit
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SKIP LOCKED is the PostgreSQL path")
    import psycopg

    first = submit(slot="A2", priority=5)
    second = submit(slot="A2")
    with psycopg.connect(db_url) as other:  # another daemon, mid-claim, holding the row lock
        other.execute("SELECT id FROM jobs WHERE id = %s FOR UPDATE", (first,))
        t0 = time.perf_counter()
        job = _claim(store, "A2", daemon="pc-2")
        waited = time.perf_counter() - t0
        assert job.id == second  # skipped, not waited for
        assert waited < 2.0
        other.rollback()
    assert _claim(store, "A2", daemon="pc-2").id == first


def test_claimed_job_binds_from_the_stored_text(store: Store, protocol_file, submit) -> None:
    path = protocol_file("cycle")
    job_id = submit(path, slot="A2", overrides={"cycles": 3, "rate": "1C"})
    path.write_text("name: edited-later\n", encoding="utf-8")  # the file changes on disk
    job = _claim(store, "A2")
    assert job.id == job_id
    binding = bind_job(store, job)
    protocol, plan, cell = binding.protocol, binding.plan, binding.cell
    assert protocol.name == "short-cycle" and cell.name == "C1"
    assert plan.loops[0].count == 3
    assert abs(plan.steps[0].current_A) == pytest.approx(2.4e-3)  # 1C of 12 mg × 200 mAh/g
    assert estimate(plan).typical_s == pytest.approx(job.params["estimate"]["typical_s"])
