"""The claim policy on its own: which queued job starts on which free slot, with the rules of
shared chambers. The daemon claims exactly what `plan_claims` returns (see
tests/daemon/test_daemon_shared_queue.py for the same rules through real daemons)."""

from __future__ import annotations

from types import SimpleNamespace

from scheduler.claim_policy import BenchView, RunningJob, plan_claims

CHAMBERS = {"A1": "chamberA", "A2": "chamberA", "B1": "chamberB", "C1": None}


def job(job_id: int, slot: str | None = None, *, hot: bool = False, group=None, fits=None):
    resources = {"chamber": True} if hot else {}
    params = {"estimate": {"resources": resources}, "group": group, "fits": fits}
    return SimpleNamespace(id=job_id, slot=slot, params=params)


def view(free=("A1", "A2", "B1", "C1"), running=()) -> BenchView:
    return BenchView(free=list(free), chamber_of=CHAMBERS, running=list(running))


def starts(plan) -> list[tuple[int, str]]:
    return [(j.id, slot) for j, slot in plan.singles]


def test_candidates_take_free_slots_in_their_order() -> None:
    plan = plan_claims([job(1, "C1"), job(2), job(3, fits=["B1"]), job(4, "C1")], view())
    # job 4 wants C1, which job 1 took: it waits; any-slot job 2 takes the first free slot.
    assert starts(plan) == [(1, "C1"), (2, "A1"), (3, "B1")]


def test_no_free_slot_starts_nothing() -> None:
    assert starts(plan_claims([job(1)], view(free=()))) == []


def test_a_temperature_job_needs_its_chamber_alone() -> None:
    running = [RunningJob("A1", None, changes_temperature=False)]
    plan = plan_claims([job(1, "A2", hot=True), job(2, "B1", hot=True)], view(running=running))
    assert starts(plan) == [(2, "B1")]  # chamberA has a cell in it: never heat under it


def test_nothing_starts_under_a_chamber_another_job_heats() -> None:
    running = [RunningJob("A1", None, changes_temperature=True)]
    plan = plan_claims([job(1, "A2"), job(2, "C1")], view(running=running))
    assert starts(plan) == [(2, "C1")]


def test_a_waiting_temperature_job_keeps_later_jobs_out_of_its_chamber() -> None:
    running = [RunningJob("A1", None, changes_temperature=False)]
    candidates = [job(1, "A2", hot=True), job(2, fits=["A2", "C1"]), job(3, "B1")]
    plan = plan_claims(candidates, view(free=("A2", "B1", "C1"), running=running))
    # Job 1 waits for chamberA to empty; job 2 may not take A2 from it and goes to C1.
    assert starts(plan) == [(2, "C1"), (3, "B1")]


def test_a_temperature_group_starts_as_a_whole_and_shares_its_chamber() -> None:
    candidates = [job(1, "A1", hot=True, group="g"), job(2, "A2", hot=True, group="g")]
    plan = plan_claims([*candidates, job(3, "B1")], view())
    assert starts(plan) == [(3, "B1")]
    assert [(j.id, slot) for j, slot in plan.groups["g"]] == [(1, "A1"), (2, "A2")]


def test_a_group_member_joins_its_running_group_but_not_another() -> None:
    running = [RunningJob("A1", "g", changes_temperature=True)]
    same = plan_claims([job(1, "A2", hot=True, group="g")], view(free=("A2",), running=running))
    other = plan_claims([job(1, "A2", hot=True, group="h")], view(free=("A2",), running=running))
    assert [j.id for j, _ in same.groups["g"]] == [1]
    assert not other.groups and not other.singles
