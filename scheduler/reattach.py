"""A re-attached step whose end was lost: its bounds, reported as a gap, and its end reason.

When a daemon dies after it read a step's last lines from the instrument but before it
journaled the step's end, the instrument no longer has them (it streams; it does not keep
what it sent). Nothing may be made up: the step's end lies after the last stored sample and
before the bench time at recovery (and never after the step's own duration, which the
instrument enforces). That interval is reported as a `gap` event with its bounds; the end
reason is the limit the last stored sample already met, or "unknown".
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from drivers.potentiostat import StepEnd
from scheduler.translate import Translation

if TYPE_CHECKING:
    from scheduler.runner import Runner


def _bounds(runner: Runner, translation: Translation, started: float) -> tuple[float, float, float]:
    """Test times between which the step ended (the last stored sample, and now or the
    step's duration, whichever is first), and the test time now."""
    state = runner.state
    resume = runner._resume
    stored = resume.last_stored_s if resume is not None else None
    lower = started + state.step_time_s if stored is None else max(stored, started)
    now = started + (time.time() - runner._step_wall) * runner.time_scale
    upper = min(now, started + translation.command.duration_s)
    return lower, max(lower, upper), now


def _inferred(
    translation: Translation, voltage: float, current: float, ran_s: float
) -> StepEnd | None:
    """How the step ended, when that can be told without its closing package: the limit the
    last stored sample already met; or the one limit that could have ended it by now
    (`ran_s`: its step time at recovery; a time limit counts once it has run out)."""
    command = translation.command
    measured = {"voltage": voltage, "current": current, "abs_current": abs(current)}
    for limit in command.limits:
        if limit.quantity in measured and limit.met_by(measured[limit.quantity]):
            return StepEnd("limit", limit=limit, message=limit.name, tail_lost=True)
    others = [limit for limit in command.limits if limit.quantity != "time"]
    timed = sorted(
        (limit for limit in command.limits if limit.quantity == "time" and limit.value <= ran_s),
        key=lambda limit: limit.value,
    )
    ran_out = bool(timed) or command.duration_s <= ran_s
    if (others and ran_out) or len(others) > 1:
        return None  # more than one end was possible
    if others:  # e.g. a CC phase that can only have reached its CV voltage
        return StepEnd("limit", limit=others[0], message=others[0].name, tail_lost=True)
    if timed:  # as the instrument would have said
        return StepEnd("limit", limit=timed[0], tail_lost=True)
    return StepEnd("time", tail_lost=True) if ran_out else None


async def lost_end(
    runner: Runner, what: str, translation: Translation, started: float, end: StepEnd
) -> StepEnd:
    """Report the lost end of a re-attached step as a gap and end the step at its bound."""
    state = runner.state
    lower, upper, now = _bounds(runner, translation, started)
    if end.reason in ("not_running", "error"):
        inferred = _inferred(translation, state.voltage_V, state.current_A, now - started)
        end = inferred or StepEnd("error", message="end reason unknown", tail_lost=True)
    reason = end.limit.name if end.limit is not None else end.message
    if end.reason == "time" or (end.limit is not None and end.limit.quantity == "time"):
        upper = started + translation.command.duration_s
    await runner._event(
        "gap",
        f"{what}: its last samples and closing package were lost with the daemon; it ended "
        f"between {lower:.1f} s and {upper:.1f} s of test time ({reason})",
        {"from_s": lower, "to_s": upper, "after_index": runner._attach_after},
    )
    state.step_time_s = upper - started
    return end
