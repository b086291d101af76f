"""AsyncStore on both engines: same results and errors as the Store, and a free event loop."""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import SQLModel

from storage import AsyncStore, StorageError, Store
from storage.async_store import NOT_OFFERED
from storage.engine import WRITE_OPTION
from storage.store import jsonable

SAFETY_NET_S = 60.0
"""Only a broken facade gets here: the lock is released anyway, and the test then fails."""


@pytest.fixture
async def astore(store: Store) -> AsyncIterator[AsyncStore]:
    facade = AsyncStore(store)
    yield facade
    await facade.close()


def _plain(value: Any) -> Any:
    """Rows as dicts, arrays as lists, NaN as None: comparable with ==."""
    if isinstance(value, SQLModel):
        return jsonable(value.model_dump())
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return jsonable(value)


def _lock_what_set_job_state_needs(store: Store) -> Callable[[], None]:
    """Another connection takes SQLite's write lock (the jobs table on PostgreSQL).

    Returns the function that releases it; a timer calls it too, after SAFETY_NET_S.
    """
    blocker = store.engine.execution_options(**{WRITE_OPTION: True}).connect()
    blocker.begin()  # on SQLite: BEGIN IMMEDIATE, holding the write lock
    if store.dialect == "postgresql":
        blocker.exec_driver_sql("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE")
    done = threading.Lock()

    def release() -> None:
        if done.acquire(blocking=False):
            blocker.rollback()
            blocker.close()

    timer = threading.Timer(SAFETY_NET_S, release)
    timer.daemon = True
    timer.start()
    return release


def _job(store: Store) -> int:
    cell = store.add_cell("C1", active_mass_g=0.012, specific_capacity_mAh_g=200.0)
    proto = store.add_protocol("rest", "name: rest\nsteps: []\n")
    return store.add_job(protocol_id=proto, cell_id=cell, slot="A1", bench="b1")


def test_every_public_store_method_is_a_coroutine_with_the_same_signature() -> None:
    names = [n for n, _ in inspect.getmembers(Store, inspect.isfunction) if not n.startswith("_")]
    assert {"add_event", "set_job_state", "read_samples", "close"} <= set(names)
    for name in names:
        if name in NOT_OFFERED:
            assert not hasattr(AsyncStore, name), name
            continue
        method = getattr(AsyncStore, name)
        assert inspect.iscoroutinefunction(method), name
        assert inspect.signature(method) == inspect.signature(getattr(Store, name)), name
        if name != "close":  # the facade's close also stops its threads
            assert method.__doc__ == getattr(Store, name).__doc__, name


async def test_calls_return_what_the_sync_store_returns(store: Store, astore: AsyncStore) -> None:
    assert astore.sync is store and astore.dialect == store.dialect
    cell = await astore.add_cell("C1", active_mass_g=0.012, specific_capacity_mAh_g=200.0)
    assert cell == store.add_cell("C1")  # the same cell, by name
    proto = await astore.add_protocol("rest", "name: rest\nsteps: []\n")
    job = await astore.add_job(protocol_id=proto, cell_id=cell, slot="A1", bench="b1")
    claimed = await astore.claim_job(job, slot="A1", by="pc-1")
    assert claimed is not None and claimed.state == "running"
    pstat = {"name": "pstat1", "vendor": "PalmSens", "model": "EmStat4", "serial": "42"}
    run = await astore.start_run(
        cell_id=cell, protocol_id=proto, slot="A1", bench="b1", job_id=job, instruments=[pstat]
    )
    await astore.start_step(run, step_count=1, step_index=0, kind="cc", started_at_s=0.0)
    await astore.end_step(run, 1, ended_at_s=2.0, end_reason="voltage", charge_Ah=1e-6)
    columns = {"test_time_s": [0.0, 1.0, 2.0], "voltage_V": [3.0, 3.1, 3.2]}
    assert await astore.write_samples(run, columns) == 3
    await astore.add_spectrum(
        run, step_count=1, frequency_Hz=[1e3, 1.0], z_real_ohm=[1.0, 2.0], z_imag_ohm=[0, -1]
    )
    await astore.add_analysis(run, "capacity", {"q_Ah": 1e-6})
    await astore.add_event("trip", "4.5 V > 4.4 V", severity="alarm", run_id=run, slot="A1")
    await astore.upsert_slot_state("b1", "A1", state="running", voltage_V=3.2)

    reads: list[tuple[str, tuple, dict]] = [
        ("list_instruments", (), {}),
        ("get_cell", ("C1",), {}),
        ("list_cells", (), {}),
        ("get_protocol", (proto,), {}),
        ("get_job", (job,), {}),
        ("list_jobs", (["running"],), {"bench": "b1"}),
        ("job_history", (job,), {}),
        ("get_run", (run,), {}),
        ("latest_run_for_job", (job,), {}),
        ("list_runs", (), {"cell_id": cell, "limit": 5}),
        ("steps", (run,), {}),
        ("sample_count", (run,), {}),
        ("last_sample", (run,), {}),
        ("read_samples", (run,), {}),
        ("spectra", (run,), {}),
        ("analyses", (run,), {"kind": "capacity"}),
        ("events", (run,), {}),
        ("active_alarms", ("b1",), {}),
        ("slot_states", (), {"bench": "b1"}),
    ]
    for name, args, kwargs in reads:
        got = await getattr(astore, name)(*args, **kwargs)
        assert _plain(got) == _plain(getattr(store, name)(*args, **kwargs)), name
        assert got, f"{name} returned nothing, so the comparison proves little"
    [acked] = await astore.ack_alarms(None, by="lee", bench="b1")
    assert store.get_event(acked.id).acked_by == "lee"


async def test_a_call_waiting_on_a_lock_leaves_the_loop_running(
    store: Store, astore: AsyncStore
) -> None:
    job = _job(store)
    loop = asyncio.get_running_loop()
    entered = asyncio.Event()  # the worker took a connection for the write that must wait
    ticked = asyncio.Event()  # another coroutine has ticked 20 times since
    ticks, target = 0, -1

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1
            if 0 <= target <= ticks:
                ticked.set()

    def on_checkout(*_: Any) -> None:
        loop.call_soon_threadsafe(entered.set)

    release = _lock_what_set_job_state_needs(store)
    event.listen(store.engine.pool, "checkout", on_checkout)
    tick_task = asyncio.create_task(ticker())
    try:
        change = asyncio.create_task(astore.set_job_state(job, "paused", by="lee"))
        await entered.wait()
        target = ticks + 20
        await ticked.wait()
        assert not change.done()  # still waiting for the lock, and the loop kept ticking
    finally:
        release()
        event.remove(store.engine.pool, "checkout", on_checkout)
        tick_task.cancel()
    assert (await change).state == "paused"
    assert ticks >= target


async def test_waiting_calls_leave_the_default_thread_pool_free(
    store: Store, astore: AsyncStore
) -> None:
    job = _job(store)
    default_pool = min(32, (os.cpu_count() or 1) + 4)  # ThreadPoolExecutor's default size
    release = _lock_what_set_job_state_needs(store)
    try:
        waiting = [
            asyncio.create_task(astore.set_job_state(job, "paused", note=str(i)))
            for i in range(default_pool + 2)
        ]
        await asyncio.sleep(0)  # every call is now submitted to the store's executor
        probe = asyncio.to_thread(lambda: "free")
        assert await asyncio.wait_for(probe, SAFETY_NET_S) == "free"
        assert not any(task.done() for task in waiting)
    finally:
        release()
    assert {job.state for job in await asyncio.gather(*waiting)} == {"paused"}
    assert len(store.job_history(job)) == 1 + len(waiting)


async def test_errors_are_the_sync_stores_errors(store: Store, astore: AsyncStore) -> None:
    job = _job(store)
    calls: list[tuple[str, tuple, dict]] = [
        ("get_job", (999,), {}),
        ("get_run", (7,), {}),
        ("add_cell", ("  ",), {}),
        ("add_cell", ("C2",), {"area_cm2": -1.0}),
        ("read_samples", (1, ["volts"]), {}),
        ("set_job_state", (job, "running"), {"expect": "paused"}),
        ("upsert_slot_state", ("b1", "A1"), {"volts": 3.0}),
        ("add_cell", (), {}),  # a TypeError, raised in the worker thread
    ]
    for name, args, kwargs in calls:
        with pytest.raises(Exception) as sync_error:
            getattr(store, name)(*args, **kwargs)
        with pytest.raises(type(sync_error.value)) as async_error:
            await getattr(astore, name)(*args, **kwargs)
        assert type(async_error.value) is type(sync_error.value), name
        assert str(async_error.value) == str(sync_error.value), name
    assert store.get_job(job).state == "queued"


async def test_a_closed_facade_refuses_calls(store: Store) -> None:
    async with AsyncStore(store) as facade:
        assert await facade.list_cells() == []
    with pytest.raises(StorageError, match="closed"):
        await facade.list_cells()
    await facade.close()  # closing twice is harmless
