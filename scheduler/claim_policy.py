"""Which queued job starts on which free slot: the claim policy, as a pure function.

Priority first, then first in first out; a job names its slot or fits any of its `fits`;
and the chamber rules of a shared chamber:
- a job that changes the temperature needs its chamber alone, or shares it with the jobs
  of its group, which start together;
- no job starts under a chamber whose temperature another job (or group) owns;
- first in, first served: a temperature job waiting for its chamber keeps later jobs out
  of that chamber, or they could hold it forever.
The daemon claims what this returns through the queue's atomic claim
(`queue.claim_jobs`); a job another daemon claimed first is planned around at once, so its
slot goes to the next candidate in the same tick.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scheduler.jobs import JobParams


@dataclass(frozen=True)
class RunningJob:
    """A job a daemon runs now, as the policy sees it."""

    slot: str
    group: str | None
    changes_temperature: bool


@dataclass(frozen=True)
class BenchView:
    """The slots a daemon may start jobs on, and what is running around them."""

    free: Sequence[str]  # free slots in bench order (not running, no latched alarm)
    chamber_of: Mapping[str, str | None]  # every slot of the daemon -> its chamber
    running: Sequence[RunningJob] = ()

    def owns(self, slot: str | None) -> bool:
        return slot is not None and slot in self.chamber_of

    def with_running(self, job: RunningJob) -> BenchView:
        """The view once `job` has started on its slot."""
        return BenchView(
            free=[s for s in self.free if s != job.slot],
            chamber_of=self.chamber_of,
            running=[*self.running, job],
        )


@dataclass
class ClaimPlan:
    """Jobs to claim now: one by one, and temperature groups that start as a whole."""

    singles: list[tuple[Any, str]] = field(default_factory=list)
    groups: dict[str, list[tuple[Any, str]]] = field(default_factory=dict)


def _may_start(params: JobParams, slot: str, view: BenchView, reserved: Mapping[str, str]) -> bool:
    chamber = view.chamber_of.get(slot)
    if chamber is None:
        return True
    group = params.group
    holder = reserved.get(chamber)
    if holder is not None and holder != group:
        return False  # an earlier temperature job or group gets this chamber first
    inside = [job for job in view.running if view.chamber_of.get(job.slot) == chamber]
    owner = next((job for job in inside if job.changes_temperature), None)
    if owner is not None and (group is None or owner.group != group):
        return False  # someone else owns the temperature of this chamber: wait
    if params.changes_temperature:
        # never change the temperature under another job
        return not [job for job in inside if group is None or job.group != group]
    return True


def plan_claims(candidates: Sequence[Any], view: BenchView) -> ClaimPlan:
    """The jobs of `candidates` (queued, in priority then FIFO order) to start now."""
    plan = ClaimPlan()
    taken: set[str] = set()
    reserved: dict[str, str] = {}  # chamber -> the temperature job or group it waits for
    for job in candidates:
        open_slots = [s for s in view.free if s not in taken]
        if not open_slots:
            break
        params = JobParams.of(job)
        targets = [job.slot] if job.slot else [s for s in open_slots if params.fits_slot(s)]
        target = next(
            (s for s in targets if s in open_slots and _may_start(params, s, view, reserved)),
            None,
        )
        if target is None:
            chamber = view.chamber_of.get(job.slot) if view.owns(job.slot) else None
            if params.changes_temperature and chamber is not None:
                reserved.setdefault(chamber, params.group or f"job {job.id}")
            continue
        taken.add(target)
        if params.group and params.changes_temperature:
            plan.groups.setdefault(params.group, []).append((job, target))
            chamber = view.chamber_of.get(target)
            if chamber is not None:
                reserved.setdefault(chamber, params.group)
        else:
            plan.singles.append((job, target))
    return plan
