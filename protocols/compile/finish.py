"""The read program made into steps: goto targets resolved, loop-only limits and loop exits
checked."""

from __future__ import annotations

from protocols import steps as P
from protocols.compile.state import Compilation, Proto
from protocols.plan import LoopSpan


def build_steps(c: Compilation) -> list[P.Step]:
    steps: list[P.Step] = []
    for index, proto in enumerate(c.protos):
        limits = _limits(c, index, proto)
        fields = {k: v for k, v in proto.fields.items() if not k.startswith("_")}
        tag = proto.tags[0] if proto.tags else None
        try:
            steps.append(proto.cls(index=index, limits=tuple(limits), tag=tag, **fields))
        except TypeError as exc:  # a programming error, not a user error
            raise RuntimeError(f"cannot build {proto.cls.__name__}: {exc}") from exc
    for span, w in zip(c.loops, c.loop_wheres, strict=True):
        if span.count is None and not _has_exit(c.loops, span, steps):
            c.fail(
                w,
                "this loop has no exit: give 'times', or a limit inside it with action "
                "end_loop, end_test, abort or a goto out of the loop",
            )
    return steps


def _limits(c: Compilation, index: int, proto: Proto) -> list[P.Limit]:
    """The step's limits with goto targets as step positions; limits that cannot hold dropped."""
    in_loop = any(s.contains(index) for s in c.loops)
    limits = []
    for lp in proto.limits:
        lim = lp.limit
        if lim.action == "goto":
            scope = lp.scope or c.root
            target = scope.find(lim.target or "")
            if target is None:
                known = ", ".join(scope.all_names()) or "none"
                c.fail(lp.where, f"goto '{lim.target}' names no tag; tags in reach: {known}")
                continue
            lim = P.Limit(
                lim.quantity, lim.op, lim.value, "goto", lim.target, lim.after_s, lim.label, target
            )
        if lim.action == "end_loop" and not in_loop:
            c.fail(lp.where, "action end_loop is only meaningful inside a repeat, for_each or loop")
            continue
        if lim.quantity == "loop_count" and not in_loop:
            c.fail(lp.where, "loop_count only means something inside a repeat, for_each or loop")
            continue
        limits.append(lim)
    return limits


def _has_exit(loops: list[LoopSpan], span: LoopSpan, steps: list[P.Step]) -> bool:
    """A limit inside the loop that leaves it (not just an inner loop)."""
    for step in steps[span.start : span.end + 1]:
        for lim in step.limits:
            if lim.action in ("end_test", "abort"):
                return True
            if lim.action == "end_loop":
                inner = [
                    s
                    for s in loops
                    if s.contains(step.index)
                    and s is not span
                    and span.start <= s.start
                    and s.end <= span.end
                ]
                if not inner:
                    return True
            if (
                lim.action == "goto"
                and lim.target_index is not None
                and not span.contains(lim.target_index)
            ):
                return True
    return False
