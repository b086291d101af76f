"""Lists of steps and the flow between them: tags, `loop` back to a tag, `repeat` and
`for_each` (a ladder expanded into one copy of its body per value)."""

from __future__ import annotations

from typing import Any

from protocols import schema as S
from protocols.compile.parameters import BAD, NAME_RE, subst
from protocols.compile.report import Included, Where
from protocols.compile.state import Compilation, Context, Scope
from protocols.compile.steps import pybamm, step
from protocols.plan import LoopSpan

MAX_LADDER = 10_000  # values one for_each variable may take
_EMPTY_OK = ("advance_cycle", "rest", "wait")  # step types that may be written with no fields

Pending = list[tuple[str, Where]]  # tags waiting for the next step of their block


def block(c: Compilation, items: Any, where: Where, ctx: Context) -> None:
    """A list of steps; a tag names the step that follows it in the same block."""
    if not isinstance(items, list):
        c.fail(where, "must be a list of steps")
        return
    pending: Pending = []
    for i, item in enumerate(items):
        before = len(c.protos)
        if isinstance(item, Included):
            block(c, item.steps, Where(item.doc, item.path), ctx)
        else:
            _item(c, item, where.at(i), ctx, pending)
        if len(c.protos) > before and pending:
            for name, _tw in pending:
                c.protos[before].tags.append(name)
            pending.clear()
    for name, tw in pending:
        c.fail(tw, f"the tag '{name}' is not followed by any step in its block")
        ctx.scope.tags.pop(name, None)


def _item(c: Compilation, item: Any, w: Where, ctx: Context, pending: Pending) -> None:
    if isinstance(item, str):
        pybamm(c, {"pybamm": item}, w, ctx, string_form=True)
        return
    if not isinstance(item, dict) or not item:
        c.fail(
            w,
            "a step must be a mapping with one key naming its type (e.g. 'rest: "
            "{duration: 1 h}') or a PyBaMM string",
        )
        return
    if "pybamm" in item:
        pybamm(c, item, w, ctx, string_form=False)
        return
    if len(item) != 1:
        keys = ", ".join(item)
        c.fail(
            w,
            f"a step has exactly one key naming its type, but this one has {keys}; put the "
            f"fields inside the type, e.g. 'cc: {{rate: 0.5C, ...}}'",
        )
        return
    ((kind, body),) = item.items()
    _typed_item(c, kind, body, w.at(kind), ctx, pending)


def _typed_item(
    c: Compilation, kind: str, body: Any, bw: Where, ctx: Context, pending: Pending
) -> None:
    if kind not in S.STEP_TYPES:
        c.fail(bw, f"unknown step type '{kind}'; valid types are: {', '.join(S.STEP_TYPES)}")
    elif kind == "tag":
        _tag(c, body, bw, ctx, pending)
    elif kind == "include":
        c.fail(
            bw,
            "include is resolved when the file is loaded from disk; load the file with "
            "protocols.load()",
        )
    elif kind == "loop":
        _loop(c, body, bw, ctx)
    elif kind == "repeat":
        _repeat(c, body, bw, ctx)
    elif kind == "for_each":
        _for_each(c, body, bw, ctx)
    else:
        body = {} if body is None and kind in _EMPTY_OK else body
        body = subst(body, bw, ctx.env, c)
        if body is not BAD:
            step(c, kind, body, bw, ctx)


def _tag(c: Compilation, body: Any, w: Where, ctx: Context, pending: Pending) -> None:
    if not isinstance(body, str) or not NAME_RE.match(body):
        c.fail(w, "a tag is a plain name of letters, digits and underscores, e.g. 'tag: aging'")
        return
    if body in ctx.scope.tags:
        c.fail(w, f"the tag '{body}' is defined twice in the same block")
        return
    ctx.scope.tags[body] = (len(c.protos), ctx.block)
    pending.append((body, w))


def _loop(c: Compilation, body: Any, w: Where, ctx: Context) -> None:
    """`loop: {loop_to: tag, count: n}`: the steps from the tag to here run n times."""
    body = subst(body, w, ctx.env, c)
    if body is BAD:
        return
    lb = c.validate(S.LoopBody, body, w)
    if lb is None:
        return
    found = ctx.scope.tags.get(lb.loop_to)
    if found is None:
        if ctx.scope.find(lb.loop_to) is not None:
            c.fail(
                w.at("loop_to"),
                f"the tag '{lb.loop_to}' is outside this block; a loop must go back to a tag "
                "in its own block",
            )
        else:
            known = ", ".join(ctx.scope.all_names()) or "none"
            c.fail(
                w.at("loop_to"),
                f"no step is tagged '{lb.loop_to}' before this loop; tags here: {known}",
            )
        return
    start, in_block = found
    end = len(c.protos) - 1
    if in_block != ctx.block:
        c.fail(
            w.at("loop_to"),
            f"the tag '{lb.loop_to}' is in another block; a loop must go back to a tag in its "
            "own block",
        )
        return
    if start > end:
        c.fail(w.at("loop_to"), f"nothing lies between the tag '{lb.loop_to}' and this loop")
        return
    for span in c.loops:
        if span.start < start <= span.end < end:
            c.fail(
                w,
                f"this loop crosses another loop (steps {span.start}–{span.end}); loops must nest",
            )
            return
    c.loops.append(LoopSpan(start, end, lb.count, f"loop to {lb.loop_to} ×{lb.count}"))
    c.loop_wheres.append(w)


def _header(c: Compilation, kind: str, body: Any, w: Where, ctx: Context) -> Any:
    """The checked header of a repeat or for_each (its steps left as written), or None."""
    if not isinstance(body, dict):
        c.fail(
            w,
            f"'{kind}' needs a mapping with 'steps' (and "
            f"'times'{' and over' if kind == 'for_each' else ''})",
        )
        return None
    header = subst({k: v for k, v in body.items() if k != "steps"}, w, ctx.env, c)
    if header is BAD:
        return None
    header["steps"] = body.get("steps")
    return c.validate(S.RepeatBody if kind == "repeat" else S.ForEachBody, header, w)


def _repeat(c: Compilation, body: Any, w: Where, ctx: Context) -> None:
    rb = _header(c, "repeat", body, w, ctx)
    if rb is None:
        return
    cycle_type = rb.cycle_type or ctx.cycle_type
    label = rb.label or "repeat"
    _loop_body(c, rb.steps, w.at("steps"), ctx, rb.times, cycle_type, label, ctx.env, False)


def _for_each(c: Compilation, body: Any, w: Where, ctx: Context) -> None:
    """One copy of the body per value, each with its own tags; `times` repeats each copy."""
    rb = _header(c, "for_each", body, w, ctx)
    if rb is None:
        return
    over: dict[str, Any] = rb.over
    n = _ladder_length(c, over, w.at("over"))
    if n is None:
        return
    cycle_type = rb.cycle_type or ctx.cycle_type
    for i in range(n):
        env = dict(ctx.env)
        note = []
        for name, values in over.items():
            env[name] = values[i]
            note.append(f"{name} = {values[i]}")
        label = f"{rb.label or 'for_each'} ({', '.join(note)})"
        _loop_body(c, rb.steps, w.at("steps"), ctx, rb.times or 1, cycle_type, label, env, True)


def _ladder_length(c: Compilation, over: dict[str, Any], w: Where) -> int | None:
    """How many values every variable of `over` has; None (reported) when they disagree."""
    if not over:
        c.fail(
            w,
            "'over' names at least one variable with its list of values, e.g. over: "
            "{rate: [0.1C, 0.5C]}",
        )
        return None
    lengths = set()
    for name, values in over.items():
        if not NAME_RE.match(name):
            c.fail(w.at(name), f"'{name}' is not a valid variable name")
            return None
        if not isinstance(values, list) or not values:
            c.fail(w.at(name), f"the values of '{name}' must be a non-empty list")
            return None
        if len(values) > MAX_LADDER:
            c.fail(w.at(name), f"the values of '{name}' are too many (at most {MAX_LADDER})")
            return None
        lengths.add(len(values))
    if len(lengths) != 1:
        c.fail(w, "every variable in 'over' needs the same number of values")
        return None
    (n,) = lengths
    return n


def _loop_body(
    c: Compilation,
    steps: list[Any],
    w: Where,
    ctx: Context,
    times: int | None,
    cycle_type: str | None,
    label: str,
    env: dict[str, Any],
    new_scope: bool,
) -> None:
    start = len(c.protos)
    scope = Scope(parent=ctx.scope) if new_scope else ctx.scope
    block(c, steps, w, Context(env, scope, c.new_block(), cycle_type, label))
    end = len(c.protos) - 1
    if end < start:
        return
    if times is None or times > 1:
        c.loops.append(LoopSpan(start, end, times, f"{label} ×{times if times else '∞'}"))
        c.loop_wheres.append(w)
