"""What one EmStat4 step's stream delivered, by the instrument's sample numbers, and how it ended.

Every data package carries the step's sample number `k`; the closing package carries the end
code `r` and the final `k`. From those the driver knows, without asking the instrument, which
samples reached the host (a jump in `k` is a `Gap`, a repeat is dropped), and which limit ended
the step, or, when the closing lines were lost with the link, which limit the last sample
already met. Nothing here talks to the instrument.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.potentiostat import Gap, Sample, StepCommand, StepEnd, StepLimit

ON_THEIR_OWN_END = ("eis", "geis", "pulse_train", "sweep")  # end when their script is done


@dataclass
class Tally:
    """The instrument's sample numbers one step has delivered so far.

    `baseline`: the first sample that arrives sets the count (a step adopted without knowing
    the last index the host stored).
    """

    last_index: int = 0
    baseline: bool = False
    received: int = 0
    missing: list[int] = field(default_factory=list)
    duplicates: int = 0
    reattached: int = 0
    peak_V: float | None = None

    def admit(self, k: int, name: str) -> tuple[bool, Gap | None]:
        """Whether sample `k` is new, and the Gap of samples lost just before it."""
        if self.baseline:
            self.last_index, self.baseline = k - 1, False
        if k <= self.last_index:
            self.duplicates += 1
            return False, None
        gap = self._lost(self.last_index + 1, k, name)
        self.last_index = k
        return True, gap

    def close(self, total: int | None, name: str) -> Gap | None:
        """The Gap at the end of the step, from the closing package's final `k`."""
        if total is None or self.baseline:
            return None
        return self._lost(self.last_index + 1, total + 1, name)

    def _lost(self, first: int, stop: int, name: str) -> Gap | None:
        missing = tuple(range(first, stop))
        if not missing:
            return None
        self.missing.extend(missing)
        return Gap(missing, f"{name}: {gap_text(missing)}")

    def note(self) -> str:
        parts: list[str] = []
        if self.reattached:
            parts.append(f"re-attached {self.reattached}x after a lost connection")
        if self.missing:
            parts.append(gap_text(tuple(self.missing)))
        if self.duplicates:
            parts.append(f"{self.duplicates} duplicate sample(s) dropped")
        return "; ".join(parts)


def step_end(
    command: StepCommand,
    end_code: int | None,
    tally: Tally,
    last: Sample | None,
    *,
    tail_lost: bool,
    aborted: bool,
) -> StepEnd:
    """How the step ended, from its end code, or from its last sample if the code was lost."""
    note = tally.note()
    count = tally.received
    if aborted:
        return StepEnd("aborted", message=join("aborted by the host", note), samples=count)
    if end_code:
        limit = command.limits[end_code - 1] if end_code <= len(command.limits) else None
        message = join(limit.name if limit else "", note)
        return StepEnd("limit", limit=limit, message=message, samples=count)
    if tail_lost:
        fired = limit_held(command.limits, last)
        message = join(
            note,
            "the step's closing package was lost with the connection; "
            + (
                f"its end is inferred from the last sample ({fired.name or fired.quantity})"
                if fired
                else "its end reason is unknown"
            ),
        )
        if fired is not None:
            return StepEnd("limit", limit=fired, message=message, samples=count, tail_lost=True)
        return StepEnd("error", message=message, samples=count, tail_lost=True)
    if command.technique in ON_THEIR_OWN_END:
        return StepEnd("completed", message=note, samples=count)
    fired = next((lim for lim in command.limits if lim.quantity in ("time", "capacity")), None)
    return StepEnd("time" if fired is None else "limit", limit=fired, message=note, samples=count)


def limit_held(limits: tuple[StepLimit, ...], sample: Sample | None) -> StepLimit | None:
    """The voltage/current limit the last sample already meets, if any."""
    if sample is None:
        return None
    measured = {
        "voltage": sample.voltage_V,
        "current": sample.current_A,
        "abs_current": abs(sample.current_A),
    }
    for limit in limits:
        if limit.quantity in measured and limit.met_by(measured[limit.quantity]):
            return limit
    return None


def gap_text(missing: tuple[int, ...]) -> str:
    return f"{len(missing)} sample(s) lost with the connection (indices {ranges(missing)})"


def ranges(indices: tuple[int, ...]) -> str:
    """(3, 4, 5, 9) -> '3-5, 9'."""
    spans: list[str] = []
    start = prev = indices[0]
    for k in [*indices[1:], None]:
        if k is not None and k == prev + 1:
            prev = k
            continue
        spans.append(str(start) if start == prev else f"{start}-{prev}")
        if k is not None:
            start = prev = k
    return ", ".join(spans)


def join(*parts: str) -> str:
    return "; ".join(part for part in parts if part)
