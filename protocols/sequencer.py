"""Walks a Plan step by step, following limit actions, loops and cycle advances.

The runner asks `next(outcome)` with how the previous step ended and gets the next step to
run (None when the test is over). The sequencer's whole state is a small JSON-ready dict,
so a run can resume at the interrupted step after a crash: after `restore`, the first
`next(None)` returns the step that was running.
"""

from __future__ import annotations

from typing import Any

from protocols.errors import Problem, ProtocolError
from protocols.plan import LoopSpan, Plan
from protocols.steps import AdvanceCycle, Step, StepOutcome

STATE_VERSION = 1


class Sequencer:
    """Program counter over `plan.steps` with loop counters and the cycle number."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.cycle = 1
        self.current: int | None = None  # index of the step handed out last
        self.finished = False
        self.passes: dict[int, int] = {}  # loop number -> completed passes
        self.steps_started = 0
        self._spans = list(plan.loops)

    # -- public -------------------------------------------------------------------------------
    def next(self, outcome: StepOutcome | None = None) -> Step | None:
        """The step to run next, given how the previous one ended; None when the test is done.

        `outcome=None` means "no step has ended": at the start it returns the first step, and
        while a step is in progress (e.g. after `restore`) it returns that step again.
        """
        if self.finished:
            return None
        if outcome is None:
            if self.current is None:
                return self._enter(0)
            return self.plan.steps[self.current]
        if self.current is None:
            return self._enter(0)
        fired = outcome.fired
        action = fired.action if fired is not None else "next"
        if action in ("end_test", "abort"):
            self._finish()
            return None
        if action == "goto":
            target = fired.target_index if fired is not None else None
            if target is None and fired is not None and fired.target:
                target = self.plan.tags.get(fired.target)
            if target is None:
                return self._after(self.current)
            self._reset_for_jump(self.current, target)
            return self._enter(target)
        if action == "end_loop":
            spans = self._spans_containing(self.current)
            if not spans:
                return self._after(self.current)
            span = spans[0]
            self.passes.pop(self._spans.index(span), None)
            return self._after(span.end, skip=span)
        return self._after(self.current)

    @property
    def loop_count(self) -> int:
        """Completed passes of the innermost loop around the current step (0 outside loops)."""
        if self.current is None:
            return 0
        spans = self._spans_containing(self.current)
        return self.passes.get(self._spans.index(spans[0]), 0) if spans else 0

    def state(self) -> dict[str, Any]:
        """Everything needed to resume; JSON-serialisable."""
        return {
            "version": STATE_VERSION,
            "sha256": self.plan.sha256,
            "n_steps": len(self.plan.steps),
            "current": self.current,
            "cycle": self.cycle,
            "finished": self.finished,
            "passes": {str(k): v for k, v in self.passes.items()},
            "steps_started": self.steps_started,
        }

    @classmethod
    def restore(cls, plan: Plan, state: dict[str, Any]) -> Sequencer:
        """A sequencer positioned where `state` left off; `next(None)` returns that step."""
        problems = []
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            problems.append("the saved sequencer state has an unknown format")
        elif state.get("sha256") != plan.sha256 or state.get("n_steps") != len(plan.steps):
            problems.append("the saved sequencer state belongs to a different protocol or binding")
        if problems:
            raise ProtocolError([Problem(plan.source, "", problems[0])])
        seq = cls(plan)
        current = state.get("current")
        if current is not None and not (
            isinstance(current, int) and 0 <= current < len(plan.steps)
        ):
            raise ProtocolError(
                [Problem(plan.source, "", f"the saved step index {current!r} is outside the plan")]
            )
        seq.current = current
        seq.cycle = int(state.get("cycle", 1))
        seq.finished = bool(state.get("finished", False))
        seq.passes = {int(k): int(v) for k, v in (state.get("passes") or {}).items()}
        seq.steps_started = int(state.get("steps_started", 0))
        return seq

    # -- internals ----------------------------------------------------------------------------
    def _spans_containing(self, index: int) -> list[LoopSpan]:
        return self.plan.loops_containing(index)

    def _enter(self, index: int) -> Step | None:
        if index >= len(self.plan.steps):
            self._finish()
            return None
        self.current = index
        self.steps_started += 1
        step = self.plan.steps[index]
        if isinstance(step, AdvanceCycle):
            self.cycle += 1
        return step

    def _finish(self) -> None:
        self.finished = True

    def _after(self, index: int, skip: LoopSpan | None = None) -> Step | None:
        """Move on from the step at `index` (the body's last step when leaving a loop)."""
        ending = [s for s in self._spans_containing(index) if s.end == index]
        for span in ending:  # innermost first
            if span is skip:
                continue
            key = self._spans.index(span)
            done = self.passes.get(key, 0) + 1
            if span.count is None or done < span.count:
                self.passes[key] = done
                return self._enter(span.start)
            self.passes.pop(key, None)
        return self._enter(index + 1)

    def _reset_for_jump(self, origin: int, target: int) -> None:
        """Leaving a loop or entering one from outside starts its count afresh."""
        for key, span in enumerate(self._spans):
            if span.contains(origin) != span.contains(target):
                self.passes.pop(key, None)
