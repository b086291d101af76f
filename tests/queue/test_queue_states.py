"""Job state rules: what each action does from every state, and the history it leaves."""

from __future__ import annotations

import time

import pytest
from queue_fixtures import claim_next

from scheduler import queue
from scheduler.errors import SchedulerError
from scheduler.jobs import STATES
from storage import Store

# action -> {from state: to state}; states absent here must be refused (or be a no-op when
# the action has already happened).
EXPECTED = {
    "hold": {"queued": "held"},
    "release": {"held": "queued"},
    "cancel": {
        "held": "cancelled",
        "queued": "cancelled",
        "interrupted": "cancelled",
        "running": "cancelling",
        "pausing": "cancelling",
        "paused": "cancelling",
        "resuming": "cancelling",
    },
    "pause": {"running": "pausing", "resuming": "pausing"},
    "resume": {"paused": "resuming", "pausing": "resuming", "interrupted": "resuming"},
}
ALREADY = {
    "hold": {"held"},
    "release": {"queued"},
    "cancel": {"cancelling", "cancelled"},
    "pause": {"pausing", "paused"},
    "resume": {"resuming", "running"},
}
ONLY = {
    "hold": "only queued or held jobs can be held",
    "release": "only held or queued jobs can be released",
    "cancel": "only jobs that have not finished can be cancelled",
    "pause": "only running jobs can be paused",
    "resume": "only paused or interrupted jobs can be resumed",
}


@pytest.mark.parametrize("action", list(EXPECTED))
def test_every_state_under_every_action(store: Store, submit, action: str) -> None:
    job = submit(slot="A2")
    for state in STATES:
        store.set_job_state(job, state, by="setup")
        before = len(store.job_history(job))
        if state in EXPECTED[action]:
            result = getattr(queue, action)(store, job, by="lee")
            assert result.state == EXPECTED[action][state], (action, state)
            assert len(store.job_history(job)) == before + 1
        elif state in ALREADY[action]:
            assert getattr(queue, action)(store, job, by="lee").state == state
            assert len(store.job_history(job)) == before  # nothing to do, nothing logged
        else:
            with pytest.raises(SchedulerError) as err:
                getattr(queue, action)(store, job, by="lee")
            assert str(err.value) == f"job {job} is {state}; {ONLY[action]}"
            assert store.get_job(job).state == state
            assert len(store.job_history(job)) == before


def test_the_documented_refusal_sentence(store: Store, submit) -> None:
    job = submit(slot="A2")
    store.set_job_state(job, "completed", by="daemon")
    with pytest.raises(
        SchedulerError,
        match=rf"^job {job} is completed; only queued or held "
        "jobs can be held$",
    ):
        queue.hold(store, job, by="lee")


def test_history_says_who_and_when(store: Store, submit) -> None:
    t0 = time.time()
    job = submit(slot="A2", hold=True)
    queue.release(store, job, by="lee", note="cells are in")
    claimed = claim_next(store, "A2", bench_name="test-bench", daemon="pc-7")
    assert claimed.id == job and claimed.claimed_by == "pc-7"
    queue.pause(store, job, by="kim")
    queue.confirm(store, job, by="pc-7")
    queue.resume(store, job, by="kim")
    queue.confirm(store, job, by="pc-7")
    queue.cancel(store, job, by="ana", note="wrong cell")
    queue.confirm(store, job, by="pc-7")
    t1 = time.time()
    history = store.job_history(job)
    assert [(h.from_state, h.to_state, h.by) for h in history] == [
        (None, "held", "kim"),
        ("held", "queued", "lee"),
        ("queued", "running", "pc-7"),
        ("running", "pausing", "kim"),
        ("pausing", "paused", "pc-7"),
        ("paused", "resuming", "kim"),
        ("resuming", "running", "pc-7"),
        ("running", "cancelling", "ana"),
        ("cancelling", "cancelled", "pc-7"),
    ]
    times = [h.at for h in history]
    assert times == sorted(times) and t0 <= times[0] and times[-1] <= t1
    assert history[1].note == "cells are in" and history[7].note == "wrong cell"
    assert "A2" in history[2].note


def test_daemon_side_transitions(store: Store, submit) -> None:
    job = submit(slot="A2")
    with pytest.raises(SchedulerError, match="only running jobs can finish"):
        queue.finish(store, job, "completed", by="pc-7")
    claim_next(store, "A2", bench_name="test-bench", daemon="pc-7")
    queue.interrupt(store, job, by="pc-7", note="daemon restarted")
    assert store.get_job(job).state == "interrupted"
    with pytest.raises(SchedulerError, match="recovers to running or queued"):
        queue.recover(store, job, by="pc-7", to="held")
    queue.recover(store, job, by="pc-7", to="running")
    with pytest.raises(SchedulerError, match="finishes completed, failed, cancelled"):
        queue.finish(store, job, "done", by="pc-7")
    assert queue.finish(store, job, "completed", by="pc-7").state == "completed"
    with pytest.raises(SchedulerError, match="only interrupted jobs can recover"):
        queue.recover(store, job, by="pc-7")
    with pytest.raises(SchedulerError, match="with a pause, resume or cancel request"):
        queue.confirm(store, job, by="pc-7")


def test_a_change_racing_a_claim_is_judged_in_the_new_state(store: Store, submit) -> None:
    """hold reads 'queued', a daemon claims, then hold writes: it must not hold a running job."""
    job = submit(slot="A2")
    real_set = store.set_job_state
    calls = []

    def claim_first(job_id, state, **kw):
        if not calls:
            calls.append(1)
            assert store.claim_job(job_id, slot="A2", by="pc-7") is not None
        return real_set(job_id, state, **kw)

    store.set_job_state = claim_first  # type: ignore[method-assign]
    with pytest.raises(SchedulerError, match=f"job {job} is running; only queued or held"):
        queue.hold(store, job, by="lee")
    assert store.get_job(job).state == "running"


def test_cli_transitions_and_history(cli, store: Store, submit) -> None:
    job = submit(slot="A2")
    code, out, err = cli("queue", "hold", str(job), "--by", "lee", "--note", "no cells yet")
    assert code == 0 and "queued → held" in out
    code, out, err = cli("queue", "hold", str(job), "--by", "lee")
    assert code == 0 and "already held" in out
    code, out, err = cli("queue", "release", str(job), "--json")
    assert code == 0
    import getpass
    import json

    data = json.loads(out)
    assert (data["was"], data["state"]) == ("held", "queued")
    store.set_job_state(job, "failed", by="pc-7")
    code, out, err = cli("queue", "pause", str(job))
    assert (
        code == 1 and err.strip() == f"error: job {job} is failed; only running jobs can be paused"
    )
    code, out, err = cli("queue", "history", str(job), "--json")
    rows = json.loads(out)
    assert [(r["to"], r["by"]) for r in rows] == [
        ("queued", "kim"),
        ("held", "lee"),
        ("queued", getpass.getuser()),
        ("failed", "pc-7"),
    ]
    assert rows[1]["note"] == "no cells yet"
    code, out, err = cli("queue", "cancel", "999")
    assert code == 1 and "999" in err and len(err.strip().splitlines()) == 1
