"""One step: its type's fields read by its handler, then the fields every step may carry
(label, cycle_type, record, tag, duration, until, safety)."""

from __future__ import annotations

import math
from typing import Any

from protocols import schema as S
from protocols import steps as P
from protocols import units as U
from protocols.compile.handlers import ALIASES, HANDLERS
from protocols.compile.limits import read_limit
from protocols.compile.parameters import BAD, NAME_RE, subst
from protocols.compile.report import Where
from protocols.compile.safety import step_safety
from protocols.compile.state import Compilation, Context, LimitProto, Proto
from protocols.pybamm_text import PybammSyntaxError, parse_step

NEEDS_END = ("rest", "cc", "cv", "cccv", "cp", "wait")  # steps that would otherwise run forever


def read_record(c: Compilation, body: S.RecordBody, where: Where, base: P.Record) -> P.Record:
    """A recording rule; fields it leaves out (or gets wrong) keep `base`'s values."""
    raw = subst(body.model_dump(), where, c.env, c)
    if raw is BAD:
        return base
    dt, dv, di = base.dt_s, base.dV_V, base.dI_A
    if raw["dt"] is not None:
        v = c.units.q(raw["dt"], (U.TIME,), where.at("dt"), positive=True)
        dt = v.value if v else dt
    if raw["dV"] is not None:
        v = c.units.q(raw["dV"], (U.VOLTAGE,), where.at("dV"), positive=True)
        dv = v.value if v else dv
    if raw["dI"] is not None:
        v = c.units.q(raw["dI"], (U.CURRENT, U.C_RATE), where.at("dI"), positive=True)
        if v is not None:
            amps = c.units.amps(v, where.at("dI"))
            di = amps if math.isfinite(amps) else di
    return P.Record(dt_s=dt, dV_V=dv, dI_A=di)


def step(c: Compilation, kind: str, body: Any, w: Where, ctx: Context) -> None:
    """Read one step of type `kind` and append it to the program."""
    b = c.validate(S.STEP_BODIES[kind], body, w)
    if b is None:
        return
    kind = ALIASES.get(kind, kind)
    proto = HANDLERS[kind](c, b, w)
    if proto is None:
        return
    geis = proto.kind == "eis" and proto.fields.get("mode") == "galvanostatic"
    c.has_kinds.add("eis_geis" if geis else proto.kind)
    label = b.label if getattr(b, "label", "") else ""
    proto.fields.setdefault("label", label or describe(proto))
    proto.fields["cycle_type"] = getattr(b, "cycle_type", None) or ctx.cycle_type
    if isinstance(b, S.Common) and not _common(c, kind, b, w, proto, ctx):
        return
    c.protos.append(proto)


def _common(c: Compilation, kind: str, b: S.Common, w: Where, proto: Proto, ctx: Context) -> bool:
    """The fields every step may carry; False when the step has no end."""
    base = c.record
    proto.fields["record"] = read_record(c, b.record, w.at("record"), base) if b.record else base
    if b.tag:
        _tag(c, b.tag, w, proto, ctx)
    limits: list[LimitProto] = []
    problems_before = len(c.problems)
    if b.duration is not None:
        v = c.units.q(b.duration, (U.TIME,), w.at("duration"), positive=True)
        if v is not None:
            limit = P.Limit("step_time", ">=", v.value, label=f"step_time >= {v.text}")
            limits.append(LimitProto(limit, w.at("duration")))
    for i, entry in enumerate(b.until):
        lp = read_limit(c, entry, w.at("until").at(i), proto, ctx)
        if lp is not None:
            limits.append(lp)
    if b.safety is not None:
        limits.extend(step_safety(c, b.safety, w.at("safety"), ctx))
    proto.limits = limits + proto.limits
    if (
        kind in NEEDS_END
        and len(c.problems) == problems_before
        and not any(lp.limit.action != "abort" for lp in proto.limits)
    ):
        c.fail(w, f"a {kind} step needs an end: give 'duration' or an 'until' limit")
        return False
    return True


def _tag(c: Compilation, tag: str, w: Where, proto: Proto, ctx: Context) -> None:
    if not NAME_RE.match(tag):
        c.fail(w.at("tag"), "a tag is a plain name of letters, digits and underscores")
    elif tag in ctx.scope.tags:
        c.fail(w.at("tag"), f"the tag '{tag}' is defined twice in the same block")
    else:
        ctx.scope.tags[tag] = (len(c.protos), ctx.block)
        proto.tags.append(tag)


def describe(proto: Proto) -> str:
    """The label a step gets when the file gives none."""
    f = proto.fields
    if proto.kind in ("cc", "pulse_train", "cccv"):
        return f"{proto.kind} {proto.direction} {f.get('_setpoint_text', '')}".strip()
    if proto.kind == "cv":
        return f"hold {f.get('_setpoint_text', '')}".strip()
    return str(f.get("_setpoint_text", proto.kind)) if proto.kind != "rest" else "rest"


def pybamm(c: Compilation, item: dict[str, Any], w: Where, ctx: Context, string_form: bool) -> None:
    """A PyBaMM experiment string ("Discharge at 0.5C until 3.0 V"), with optional extra fields."""
    item = subst(item, w, ctx.env, c)
    if item is BAD:
        return
    text = item.get("pybamm")
    pw = w if string_form else w.at("pybamm")
    if not isinstance(text, str):
        c.fail(pw, "a PyBaMM step is text, e.g. 'Discharge at 0.5C until 3.0 V'")
        return
    try:
        kind, body = parse_step(text)
    except PybammSyntaxError as exc:
        c.fail(pw, str(exc))
        return
    extra = {k: v for k, v in item.items() if k != "pybamm"}
    if extra:
        if c.validate(S.PybammBody, dict(item), w) is None:
            return
        for key, value in extra.items():
            if key == "until":
                body.setdefault("until", []).extend(value)
            else:
                body[key] = value
    step(c, kind, body, w, ctx)
