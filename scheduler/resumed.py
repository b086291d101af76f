"""What a run resumed after a crash does with the step the crash cut short, when that step
runs again rather than being re-attached (a host-side step): its abandoned record is ended,
and a temperature step's soak goes on from where it was (`Environment.apply`'s `soaked_s`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from protocols import steps as p
from scheduler import crashpoints
from scheduler.environment import OnStable
from scheduler.run_state import ResumePoint

if TYPE_CHECKING:
    from scheduler.runner import Runner


async def abandon_step(runner: Runner, resume: ResumePoint) -> None:
    """End the record of a step a crash cut short, before it runs again as a new step."""
    await runner.db.end_step(
        runner.run_id,
        resume.interrupted_step_count,
        ended_at_s=resume.last_stored_s or resume.step_started_s,
        end_reason="interrupted (crash): the daemon went away; the step runs again",
        data={"interrupted": True},
    )


def soaked_by_now(runner: Runner, step: p.Step) -> float | None:
    """Bench seconds the resumed temperature step's soak has run (None: start it afresh).
    Only the first step a resumed run runs is the one the crash cut short."""
    began, runner._resume_soak = runner._resume_soak, None
    if began is None or not isinstance(step, p.SetTemperature):
        return None
    return (time.time() - began) * runner.time_scale


def soak_journal(runner: Runner, step: p.Step, started: float) -> OnStable:
    """The callback that journals when the step's soak began (the `soak_stable` point)."""

    async def on_stable(soaked_s: float) -> None:
        began = time.time() - soaked_s / runner.time_scale
        soak = {"soak": {"stable_wall_s": began}}
        await runner._journal_step(step, started, {**runner._step_journal, **soak})
        crashpoints.point("soak_stable", runner._pass_key(step))

    return on_stable
