"""Step end conditions ("voltage <= 3.0 V", {current: "< 0.05C", action: end_loop}).

What each quantity accepts, its default comparison and how its value resolves are rows of
`LIMIT_RULES`; limits that can never end their kind of step are rows of `CANNOT_END` and
`BEYOND_SAFETY`. Reading a limit is the same for every quantity.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from protocols import schema as S
from protocols import steps as P
from protocols import units as U
from protocols.compile.parameters import NAME_RE
from protocols.compile.quantities import CURRENTS, Quantities
from protocols.compile.report import Where
from protocols.compile.state import Compilation, Context, LimitProto, Proto

_OP_RE = re.compile(r"^\s*(<=|>=|=<|=>|==|<|>|=)?\s*(.*?)\s*$", re.S)
_LIMIT_TEXT_RE = re.compile(r"^\s*([A-Za-z_]+)\s*(<=|>=|<|>|==|=)?\s*(.+?)\s*$", re.S)
_OPS: dict[str, P.Comparison] = {"<": "<", "<=": "<=", "=<": "<=", ">": ">", ">=": ">=", "=>": ">="}
_BY_DIRECTION: dict[str | None, P.Comparison] = {"charge": ">=", "discharge": "<="}

ACTIONS: tuple[P.Action, ...] = ("next", "goto", "end_loop", "end_test", "pause", "abort")
LIMIT_NAMES: dict[str, P.LimitQuantity] = {  # what a file may write -> what the limit watches
    "step_time": "step_time",
    "time": "step_time",
    "test_time": "test_time",
    "voltage": "voltage",
    "current": "abs_current",
    "abs_current": "abs_current",
    "signed_current": "current",
    "rate": "rate",
    "step_capacity": "step_capacity",
    "capacity": "step_capacity",
    "dV_dt": "dV_dt",
    "dI_dt": "dI_dt",
    "temperature": "temperature",
    "pressure": "pressure",
    "cycle_count": "cycle_count",
    "loop_count": "loop_count",
}

# -- how each quantity's value resolves ----------------------------------------------------------
Resolved = tuple[P.LimitQuantity, float]


def _as_is(u: Quantities, quantity: P.LimitQuantity, v: U.Value, w: Where) -> Resolved:
    return quantity, v.value


def _cell_voltage(u: Quantities, quantity: P.LimitQuantity, v: U.Value, w: Where) -> Resolved:
    return quantity, u.cell_v(v)


def _current(u: Quantities, quantity: P.LimitQuantity, v: U.Value, w: Where) -> Resolved:
    """Amperes; a C-rate stays a rate limit while 1C is unknown."""
    if v.kind is U.C_RATE and u.one_c_A is None:
        return "rate", abs(v.value)
    return quantity, u.amps(v, w)


def _rate(u: Quantities, quantity: P.LimitQuantity, v: U.Value, w: Where) -> Resolved:
    """A rate becomes a current limit once 1C is known."""
    if u.one_c_A is not None:
        return "abs_current", v.value * u.one_c_A
    return "rate", v.value


def _capacity(u: Quantities, quantity: P.LimitQuantity, v: U.Value, w: Where) -> Resolved:
    if v.kind is U.SPECIFIC_CHARGE:
        return quantity, u.per_mass(v, w)
    if v.kind is U.AREAL_CHARGE:
        return quantity, u.per_area(v, w)
    return quantity, v.value


def _not_negative(quantity: str, v: U.Value) -> str | None:
    if v.value < 0:
        return (
            f"'{v.text}' is negative, but a current limit compares the magnitude |I|; use "
            "signed_current for a signed limit"
        )
    return None


def _magnitude(quantity: str, v: U.Value) -> str | None:
    if v.value <= 0:
        return f"'{v.text}': {quantity} limits compare the magnitude, so the value must be positive"
    return None


def _whole_count(quantity: str, v: U.Value) -> str | None:
    if v.value != int(v.value) or v.value < 1:
        return f"'{v.text}' must be a whole number of at least 1"
    return None


@dataclass(frozen=True)
class LimitRule:
    """How one quantity reads its limit value."""

    kinds: tuple[U.Kind, ...]
    default_op: P.Comparison | None = None  # None: the file must write the comparison
    op_example: str = ""  # shown when the comparison is missing, with {text}
    by_direction: bool = False  # no comparison: ">=" on charge, "<=" on discharge
    reference: bool = False  # may be "vs Li/Li+"
    positive: bool = False
    nonneg: bool = False
    check: Callable[[str, U.Value], str | None] | None = None  # why the value is not allowed
    resolve: Callable[[Quantities, P.LimitQuantity, U.Value, Where], Resolved] = _as_is


_TIME = LimitRule((U.TIME,), ">=", positive=True)
_COUNT = LimitRule((U.NUMBER_KIND,), ">=", check=_whole_count)
LIMIT_RULES: dict[P.LimitQuantity, LimitRule] = {
    "step_time": _TIME,
    "test_time": _TIME,
    "voltage": LimitRule(
        (U.VOLTAGE,),
        op_example="'<= {text}' or '>= {text}'",
        by_direction=True,
        reference=True,
        resolve=_cell_voltage,
    ),
    "abs_current": LimitRule(CURRENTS, "<", check=_not_negative, resolve=_current),
    "current": LimitRule(CURRENTS, "<", resolve=_current),
    "rate": LimitRule((U.C_RATE, U.NUMBER_KIND), "<", nonneg=True, resolve=_rate),
    "step_capacity": LimitRule(
        (U.CHARGE, U.SPECIFIC_CHARGE, U.AREAL_CHARGE), ">=", positive=True, resolve=_capacity
    ),
    "dV_dt": LimitRule((U.DVDT,), "<", check=_magnitude),
    "dI_dt": LimitRule((U.DIDT,), "<", check=_magnitude),
    "temperature": LimitRule((U.TEMPERATURE,), op_example="'>= {text}'"),
    "pressure": LimitRule((U.PRESSURE,), op_example="'<= {text}'", nonneg=True),
    "cycle_count": _COUNT,
    "loop_count": _COUNT,
}

# -- limits that can never end their step ------------------------------------------------------
_CURRENT_QS = frozenset({"abs_current", "current", "rate"})
_BELOW = frozenset({"<", "<="})
_ABOVE = frozenset({">", ">="})


@dataclass(frozen=True)
class CannotEnd:
    """`quantities` cannot end a step of `kinds` (any kind when None); first match explains."""

    quantities: frozenset[str]
    kinds: frozenset[str] | None
    message: str  # with {q}, {kind}, {label}
    ops: frozenset[str] | None = None
    direction: str | None = None

    def matches(self, limit: P.Limit, proto: Proto) -> bool:
        return (
            limit.quantity in self.quantities
            and (self.kinds is None or proto.kind in self.kinds)
            and (self.ops is None or limit.op in self.ops)
            and (self.direction is None or proto.direction == self.direction)
        )


_HELD_CURRENT = "the current is held constant in a {kind} step, so '{label}' can never end it"
_DRIVEN = frozenset({"cc", "pulse_train", "cp", "cccv"})
CANNOT_END: tuple[CannotEnd, ...] = (
    CannotEnd(
        frozenset({"step_time", "test_time", "cycle_count", "loop_count", "step_capacity"}),
        None,
        "{q} only grows during a step, so '{label}' would hold at once or never change",
        ops=_BELOW,
    ),
    CannotEnd(
        _CURRENT_QS | {"dI_dt"},
        frozenset({"rest", "wait", "set_temperature", "set_pressure", "eis"}),
        "no current is controlled in a {kind} step, so '{label}' can never end it",
    ),
    CannotEnd(_CURRENT_QS, frozenset({"cc", "pulse_train", "cp"}), _HELD_CURRENT),
    CannotEnd(frozenset({"dI_dt"}), frozenset({"cc", "pulse_train"}), _HELD_CURRENT),
    CannotEnd(
        frozenset({"voltage"}),
        frozenset({"cv"}),
        "the voltage is held constant in a cv step, so '{label}' can never end it",
    ),
    CannotEnd(
        frozenset({"abs_current", "rate"}),
        frozenset({"cv", "cccv"}),
        "the current only decays while the voltage is held, so '{label}' can never end it; use '<'",
        ops=_ABOVE,
    ),
    CannotEnd(
        frozenset({"voltage"}),
        _DRIVEN,
        "the voltage rises on charge, so '{label}' can never end it; use '>='",
        ops=_BELOW,
        direction="charge",
    ),
    CannotEnd(
        frozenset({"voltage"}),
        _DRIVEN,
        "the voltage falls on discharge, so '{label}' can never end it; use '<='",
        ops=_ABOVE,
        direction="discharge",
    ),
    CannotEnd(
        frozenset({"voltage"}),
        frozenset({"cccv"}),
        "a cccv step holds its voltage at the end, so '{label}' can never end it; end it on "
        "current or rate",
    ),
)


@dataclass(frozen=True)
class BeyondSafety:
    """A limit past a safety bound: the safety limit (or nothing) would fire first."""

    quantity: str
    ops: frozenset[str]
    attr: str  # the P.Safety bound
    above: bool
    tolerance: float
    message: str  # with {label}, {bound}

    def matches(self, limit: P.Limit, safety: P.Safety) -> float | None:
        bound = getattr(safety, self.attr)
        if bound is None or limit.quantity != self.quantity or limit.op not in self.ops:
            return None
        past = (
            limit.value > bound + self.tolerance
            if self.above
            else limit.value < bound - self.tolerance
        )
        return bound if past else None


BEYOND_SAFETY: tuple[BeyondSafety, ...] = (
    BeyondSafety(
        "voltage",
        _ABOVE,
        "voltage_max_V",
        True,
        1e-9,
        "'{label}' lies above the safety voltage_max {bound:g} V, so the safety limit would "
        "end the test first",
    ),
    BeyondSafety(
        "voltage",
        _BELOW,
        "voltage_min_V",
        False,
        1e-9,
        "'{label}' lies below the safety voltage_min {bound:g} V, so the safety limit would "
        "end the test first",
    ),
    BeyondSafety(
        "temperature",
        _ABOVE,
        "temperature_max_degC",
        True,
        0.0,
        "'{label}' lies above the safety temperature_max {bound:g} °C, so it can never fire",
    ),
)


def never_fires(limit: P.Limit, proto: Proto, safety: P.Safety) -> str | None:
    """Why `limit` cannot end this step (a mistake, not a harmless extra), or None."""
    for rule in CANNOT_END:
        if rule.matches(limit, proto):
            return rule.message.format(q=limit.quantity, kind=proto.kind, label=limit.label)
    for beyond in BEYOND_SAFETY:
        bound = beyond.matches(limit, safety)
        if bound is not None:
            return beyond.message.format(label=limit.label, bound=bound)
    return None


# -- reading a limit ---------------------------------------------------------------------------
@dataclass
class _Written:
    """A limit as the file writes it, before its value is read."""

    name: str
    value: Any
    where: Where
    action: P.Action = "next"
    target: str | None = None
    after_s: float = 0.0
    label: str = ""


def read_limit(
    c: Compilation, entry: Any, w: Where, proto: Proto, ctx: Context
) -> LimitProto | None:
    """One `until` entry as a limit on this step; None (reported) when it is not a valid one."""
    if isinstance(entry, str):
        written = _from_text(c, entry, w)
    elif isinstance(entry, dict):
        written = _from_mapping(c, entry, w)
    else:
        c.fail(w, "a limit is a mapping like {voltage: '<= 3.0 V'} or text like 'voltage <= 3.0 V'")
        return None
    if written is None:
        return None
    w = written.where
    if written.name not in LIMIT_NAMES:
        c.fail(w, f"unknown limit quantity '{written.name}'; valid: {', '.join(LIMIT_NAMES)}")
        return None
    value = written.value
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        c.fail(w, f"the limit value must be text like '<= 3.0 V', not {S._type_word(value)}")
        return None
    m = _OP_RE.match(value)
    assert m is not None
    op_text, rest = m.group(1), m.group(2)
    if op_text in ("=", "=="):
        c.fail(
            w,
            f"'{value.strip()}' uses '{op_text}'; a limit compares with <=, >=, < or > (measured "
            "values never equal a number exactly)",
        )
        return None
    op = _OPS.get(op_text or "")
    result = _limit_value(c, LIMIT_NAMES[written.name], op, rest, w, proto)
    if result is None:
        return None
    quantity, op, number, shown = result
    limit = P.Limit(
        quantity,
        op,
        number,
        action=written.action,
        target=written.target,
        after_s=written.after_s,
        label=written.label or f"{written.name} {op} {shown}",
    )
    why = never_fires(limit, proto, c.safety)
    if why:
        c.fail(w, why)
    return LimitProto(limit, w, ctx.scope)


def _from_text(c: Compilation, entry: str, w: Where) -> _Written | None:
    m = _LIMIT_TEXT_RE.match(entry)
    if not m:
        c.fail(
            w,
            f"'{entry}' is not a limit; write e.g. 'voltage <= 3.0 V' or "
            f"{{voltage: '<= 3.0 V', action: end_loop}}",
        )
        return None
    return _Written(m.group(1), f"{m.group(2) or ''} {m.group(3)}", w)


def _from_mapping(c: Compilation, entry: dict[str, Any], w: Where) -> _Written | None:
    names = [k for k in entry if k in LIMIT_NAMES]
    others = [
        k for k in entry if k not in LIMIT_NAMES and k not in ("action", "goto", "after", "label")
    ]
    if others:
        c.fail(
            w.at(others[0]),
            f"unknown key '{others[0]}' in a limit; a limit has one quantity "
            f"({', '.join(LIMIT_NAMES)}) and optionally action, goto, after",
        )
        return None
    if len(names) != 1:
        c.fail(
            w,
            f"a limit names exactly one quantity ({', '.join(LIMIT_NAMES)}), e.g. "
            f"{{voltage: '<= 3.0 V'}}",
        )
        return None
    name = names[0]
    written = _Written(name, entry[name], w.at(name), label=str(entry.get("label") or ""))
    if not _read_action(c, entry, w, written):
        return None
    if "after" in entry:
        a = c.units.q(entry["after"], (U.TIME,), w.at("after"), nonneg=True)
        if a is None:
            return None
        written.after_s = a.value
    return written


def _read_action(c: Compilation, entry: dict[str, Any], w: Where, written: _Written) -> bool:
    """`action` and `goto` of a limit mapping into `written`; False (reported) when invalid."""
    if "action" in entry:
        action = next((a for a in ACTIONS if a == entry["action"]), None)
        if action is None:
            c.fail(
                w.at("action"),
                f"unknown action '{entry['action']}'; valid actions: {', '.join(ACTIONS)}",
            )
            return False
        written.action = action
    if "goto" in entry:
        target = entry["goto"]
        if not isinstance(target, str) or not NAME_RE.match(target):
            c.fail(w.at("goto"), "goto names a tag, e.g. goto: aging")
            return False
        if written.action not in ("next", "goto"):
            c.fail(w.at("goto"), f"a limit cannot both goto '{target}' and {written.action}")
            return False
        written.action, written.target = "goto", target
    elif written.action == "goto":
        c.fail(w.at("action"), "action goto needs 'goto: <tag>' naming where to go")
        return False
    return True


def _limit_value(
    c: Compilation,
    quantity: P.LimitQuantity,
    op: P.Comparison | None,
    text: str,
    w: Where,
    proto: Proto,
) -> tuple[P.LimitQuantity, P.Comparison, float, str] | None:
    """The limit's value read by its quantity's rule: (quantity, comparison, SI value, text)."""
    rule = LIMIT_RULES[quantity]
    v = c.units.q(
        text, rule.kinds, w, positive=rule.positive, nonneg=rule.nonneg, reference=rule.reference
    )
    if v is None:
        return None
    why = rule.check(quantity, v) if rule.check else None
    if why:
        c.fail(w, why)
        return None
    if op is None and rule.by_direction:
        op = _BY_DIRECTION.get(proto.direction)
    op = op or rule.default_op
    if op is None:
        example = rule.op_example.format(text=v.text)
        c.fail(w, f"give a comparison for this {quantity} limit, e.g. {example}")
        return None
    quantity, number = rule.resolve(c.units, quantity, v, w)
    return quantity, op, number, v.text
