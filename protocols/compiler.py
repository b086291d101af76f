"""Protocol file → Plan: parameters substituted, ladders expanded, units resolved, checks run.

Every problem found is collected (with file, line and path) and raised together at the end,
so a technician fixes a file in one pass. The same compiler runs at load time without a cell
(to check the file) and at bind time with one (to resolve C-rates into amperes).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from protocols import schema as S
from protocols import steps as P
from protocols import units as U
from protocols.basis import CapacityBasis
from protocols.errors import Problem, ProtocolError
from protocols.plan import LoopSpan, Plan
from protocols.pybamm_text import PybammSyntaxError, parse_step
from protocols.source import Document

_PARAM_RE = re.compile(r"\$\{([^}]*)\}")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OP_RE = re.compile(r"^\s*(<=|>=|=<|=>|==|<|>|=)?\s*(.*?)\s*$", re.S)
_LIMIT_TEXT_RE = re.compile(r"^\s*([A-Za-z_]+)\s*(<=|>=|<|>|==|=)?\s*(.+?)\s*$", re.S)
_BAD = object()

ACTIONS = ("next", "goto", "end_loop", "end_test", "pause", "abort")
LIMIT_NAMES = {
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
ELECTRICAL = ("cc", "cv", "hold", "cccv", "cp", "pulse_train", "sweep", "lsv")


@dataclass(frozen=True)
class Included:
    """Steps brought in by `include:`, with the document they came from."""

    doc: Document
    steps: list[Any]
    path: str = "steps"


@dataclass(frozen=True)
class Where:
    doc: Document
    path: str

    def at(self, part: str | int) -> Where:
        if isinstance(part, int):
            return Where(self.doc, f"{self.path}[{part}]")
        return Where(self.doc, f"{self.path}.{part}" if self.path else part)


@dataclass
class LimitProto:
    limit: P.Limit
    where: Where
    scope: Scope | None = None


@dataclass
class Proto:
    cls: type[P.Step]
    fields: dict[str, Any]
    limits: list[LimitProto]
    where: Where
    kind: str
    direction: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class Scope:
    parent: Scope | None = None
    tags: dict[str, tuple[int, int]] = field(default_factory=dict)

    def find(self, name: str) -> int | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.tags:
                return scope.tags[name][0]
            scope = scope.parent
        return None

    def all_names(self) -> list[str]:
        names: list[str] = []
        scope: Scope | None = self
        while scope is not None:
            names.extend(scope.tags)
            scope = scope.parent
        return sorted(set(names))


@dataclass
class Context:
    """What a block passes down: parameter values and inherited labels."""

    env: dict[str, Any]
    scope: Scope
    block: int
    cycle_type: str | None = None
    loop_note: str = ""


class Compiler:
    def __init__(
        self,
        doc: Document,
        body: S.FileBody,
        steps: list[Any],
        *,
        env: dict[str, Any],
        basis: CapacityBasis | None,
        counter_V: float,
        strict: bool,
        source_text: str,
        sha256: str,
    ) -> None:
        self.doc = doc
        self.body = body
        self.raw_steps = steps
        self.env = env
        self.in_basis = basis
        self.counter_V = counter_V
        self.strict = strict
        self.source_text = source_text
        self.sha256 = sha256
        self.problems: list[Problem] = []
        self.protos: list[Proto] = []
        self.loops: list[LoopSpan] = []
        self.loop_wheres: list[Where] = []
        self.needs: list[tuple[Where, str]] = []
        self.block_counter = 0
        self.root = Scope()
        self.one_c_A: float | None = None
        self.basis: CapacityBasis | None = basis
        self.safety = P.Safety()
        self.safety_current_c: float | None = None
        self.record = P.Record()
        self.has_kinds: set[str] = set()
        self.notes: list[str] = []

    # -- problems -----------------------------------------------------------------------------
    def fail(self, where: Where, message: str) -> None:
        problem = Problem(where.doc.file, where.path, message, where.doc.line_of(where.path))
        if problem not in self.problems:
            self.problems.append(problem)

    def need(self, where: Where, what: str) -> None:
        self.needs.append((where, what))

    # -- entry --------------------------------------------------------------------------------
    def run(self) -> Plan:
        top = Where(self.doc, "")
        self._basis(top)
        self._top_record(top)
        self._top_safety(top)
        ctx = Context(self.env, self.root, self._new_block())
        self._block(self.raw_steps, Where(self.doc, "steps"), ctx)
        if not self.protos and not self.problems:
            self.fail(top.at("steps"), "a protocol needs at least one step")
        self._check_safety_required(top)
        steps = self._finish()
        needs_text = [f"{w.path}: {what}" for w, what in self.needs]
        if self.strict and self.needs:
            first, what = self.needs[0]
            more = f" (and {len(self.needs) - 1} more places)" if len(self.needs) > 1 else ""
            self.fail(
                first,
                f"this protocol needs a cell: {what}{more}; bind it with a capacity basis"
                " (cellbench: --cell CELLFILE)",
            )
        if self.problems:
            raise ProtocolError(self.problems)
        tags = {}
        for name, (index, _) in self.root.tags.items():
            tags[name] = index
        return Plan(
            name=self.body.name,
            description=self.body.description,
            source_text=self.source_text,
            sha256=self.sha256,
            steps=steps,
            safety=self.safety,
            loops=list(self.loops),
            tags=tags,
            record=self.record,
            basis=self.basis,
            counter_electrode_V=self.counter_V,
            parameters=dict(self.env),
            source=self.doc.file,
            needs_cell=needs_text,
            notes=list(self.notes),
        )

    def _new_block(self) -> int:
        self.block_counter += 1
        return self.block_counter

    # -- parameters ---------------------------------------------------------------------------
    def subst(self, value: Any, where: Where, env: dict[str, Any]) -> Any:
        """Replace ${name} in every string; a whole-string ${name} keeps the value's type."""
        if isinstance(value, str):
            if "${" not in value:
                return value
            whole = re.fullmatch(r"\s*\$\{([^}]*)\}\s*", value)
            if whole:
                name = whole.group(1).strip()
                if name not in env:
                    self._unknown_param(name, where, env)
                    return _BAD
                return env[name]
            bad = False

            def repl(m: re.Match[str]) -> str:
                nonlocal bad
                name = m.group(1).strip()
                if name not in env:
                    self._unknown_param(name, where, env)
                    bad = True
                    return ""
                v = env[name]
                if isinstance(v, list | dict):
                    self.fail(where, f"the parameter '{name}' is a list and cannot sit inside text")
                    bad = True
                    return ""
                return str(v)

            out = _PARAM_RE.sub(repl, value)
            return _BAD if bad else out
        if isinstance(value, list):
            items = [self.subst(v, where.at(i), env) for i, v in enumerate(value)]
            return _BAD if any(v is _BAD for v in items) else items
        if isinstance(value, dict):
            out_d = {k: self.subst(v, where.at(k), env) for k, v in value.items()}
            return _BAD if any(v is _BAD for v in out_d.values()) else out_d
        return value

    def _unknown_param(self, name: str, where: Where, env: dict[str, Any]) -> None:
        known = ", ".join(sorted(env)) or "none"
        self.fail(where, f"unknown parameter '${{{name}}}'; defined parameters: {known}")

    # -- quantities ---------------------------------------------------------------------------
    def q(
        self,
        raw: Any,
        kinds: tuple[U.Kind, ...],
        where: Where,
        *,
        positive: bool = False,
        nonneg: bool = False,
        reference: bool = False,
    ) -> U.Value | None:
        try:
            v = U.parse(raw, kinds, allow_reference=reference)
        except U.QuantityError as exc:
            self.fail(where, str(exc))
            return None
        if positive and not v.value > 0:
            self.fail(where, f"'{v.text}' must be greater than zero")
            return None
        if nonneg and v.value < 0:
            self.fail(where, f"'{v.text}' must not be negative")
            return None
        return v

    def cell_v(self, v: U.Value) -> float:
        """A voltage as the cell voltage, converting from a named reference electrode."""
        ref = U.reference_potential(v.reference)
        if ref is None:
            return v.value
        return v.value + ref - self.counter_V

    def amps(self, v: U.Value, where: Where) -> float:
        """A current in A from A, mA/cm², mA/g or a C-rate; NaN (noted) when a cell is needed."""
        if v.kind is U.CURRENT:
            return v.value
        if v.kind is U.C_RATE:
            if self.one_c_A is None:
                self.need(where, f"'{v.text}' is a C-rate")
                return math.nan
            return v.value * self.one_c_A
        if v.kind is U.CURRENT_DENSITY:
            area = self.basis.area_cm2 if self.basis else None
            if not area:
                self.need(where, f"'{v.text}' is per cm², so the electrode area must be known")
                return math.nan
            return v.value * area
        if v.kind is U.SPECIFIC_CURRENT:
            mass = self.basis.active_mass_g if self.basis else None
            if not mass:
                self.need(where, f"'{v.text}' is per gram, so the active mass must be known")
                return math.nan
            return v.value * mass
        return math.nan

    def c_rate_of(self, v: U.Value) -> float | None:
        if v.kind is U.C_RATE:
            return v.value
        amps = math.nan
        if v.kind is U.CURRENT:
            amps = v.value
        elif v.kind is U.CURRENT_DENSITY and self.basis and self.basis.area_cm2:
            amps = v.value * self.basis.area_cm2
        elif v.kind is U.SPECIFIC_CURRENT and self.basis and self.basis.active_mass_g:
            amps = v.value * self.basis.active_mass_g
        if self.one_c_A and math.isfinite(amps):
            return amps / self.one_c_A
        return None

    # -- top-level blocks ---------------------------------------------------------------------
    def _basis(self, top: Where) -> None:
        raw = self.body.c_rate_basis
        basis = self.in_basis
        if raw is None:
            self.one_c_A = basis.one_c_A if basis else None
            return
        where = top.at("c_rate_basis")
        raw = self.subst(raw, where, self.env)
        if raw is _BAD:
            return
        kinds = (
            U.SPECIFIC_CHARGE,
            U.SPECIFIC_CURRENT,
            U.AREAL_CHARGE,
            U.CURRENT_DENSITY,
            U.CHARGE,
            U.CURRENT,
        )
        v = self.q(raw, kinds, where, positive=True)
        if v is None:
            return
        per_hour = v.value  # A·h/x and A/x have the same number per 1 h
        mass = basis.active_mass_g if basis else None
        area = basis.area_cm2 if basis else None
        if v.kind in (U.SPECIFIC_CHARGE, U.SPECIFIC_CURRENT):
            if not mass:
                self._basis_fallback(where, v, "active mass")
                return
            one_c = per_hour * mass
            text = (
                f"1C = {v.text} × {mass * 1000:g} mg = {U.format_si(one_c, 'A')} (protocol basis)"
            )
        elif v.kind in (U.AREAL_CHARGE, U.CURRENT_DENSITY):
            if not area:
                self._basis_fallback(where, v, "electrode area")
                return
            one_c = per_hour * area
            text = f"1C = {v.text} × {area:g} cm² = {U.format_si(one_c, 'A')} (protocol basis)"
        else:
            one_c = per_hour
            text = f"1C = {U.format_si(one_c, 'A')} from {v.text} (protocol basis)"
        self.one_c_A = one_c
        self.basis = CapacityBasis(one_c, text, active_mass_g=mass, area_cm2=area)

    def _basis_fallback(self, where: Where, v: U.Value, missing: str) -> None:
        """The protocol's 1C needs a mass or area the cell lacks: use the cell's own 1C."""
        basis = self.in_basis
        if basis is None:
            self.need(where, f"1C is defined as {v.text}, so the cell's {missing} must be known")
            return
        self.one_c_A = basis.one_c_A
        self.basis = CapacityBasis(
            basis.one_c_A,
            f"{basis.description} (the protocol's 1C = {v.text} needs the {missing}, which the"
            " cell does not state)",
            active_mass_g=basis.active_mass_g,
            area_cm2=basis.area_cm2,
        )

    def _top_record(self, top: Where) -> None:
        if self.body.record is not None:
            self.record = self._record(self.body.record, top.at("record"), P.Record())

    def _record(self, body: S.RecordBody, where: Where, base: P.Record) -> P.Record:
        raw = self.subst(body.model_dump(), where, self.env)
        if raw is _BAD:
            return base
        dt, dv, di = base.dt_s, base.dV_V, base.dI_A
        if raw["dt"] is not None:
            v = self.q(raw["dt"], (U.TIME,), where.at("dt"), positive=True)
            dt = v.value if v else dt
        if raw["dV"] is not None:
            v = self.q(raw["dV"], (U.VOLTAGE,), where.at("dV"), positive=True)
            dv = v.value if v else dv
        if raw["dI"] is not None:
            v = self.q(raw["dI"], (U.CURRENT, U.C_RATE), where.at("dI"), positive=True)
            if v is not None:
                amps = self.amps(v, where.at("dI"))
                di = amps if math.isfinite(amps) else di
        return P.Record(dt_s=dt, dV_V=dv, dI_A=di)

    def _safety_values(
        self, body: S.SafetyBody, where: Where, env: dict[str, Any]
    ) -> dict[str, float]:
        raw = self.subst(body.model_dump(), where, env)
        out: dict[str, float] = {}
        if raw is _BAD:
            return out
        specs: dict[str, tuple[U.Kind, ...]] = {
            "voltage_min": (U.VOLTAGE,),
            "voltage_max": (U.VOLTAGE,),
            "abs_current_max": (U.CURRENT, U.C_RATE, U.CURRENT_DENSITY, U.SPECIFIC_CURRENT),
            "temperature_min": (U.TEMPERATURE,),
            "temperature_max": (U.TEMPERATURE,),
            "capacity_max": (U.CHARGE,),
            "pressure_min": (U.PRESSURE,),
            "pressure_max": (U.PRESSURE,),
        }
        for key, kinds in specs.items():
            if raw[key] is None:
                continue
            w = where.at(key)
            v = self.q(
                raw[key],
                kinds,
                w,
                reference=key.startswith("voltage"),
                positive=key in ("abs_current_max", "capacity_max"),
                nonneg=key.startswith("pressure"),
            )
            if v is None:
                continue
            if key.startswith("voltage"):
                out[key] = self.cell_v(v)
            elif key == "abs_current_max":
                if v.kind is U.C_RATE:
                    out["abs_current_max_c"] = v.value
                amps = self.amps(v, w) if self.one_c_A or v.kind is not U.C_RATE else math.nan
                if math.isfinite(amps):
                    out[key] = amps
            else:
                out[key] = v.value
        for lo, hi in (
            ("voltage_min", "voltage_max"),
            ("temperature_min", "temperature_max"),
            ("pressure_min", "pressure_max"),
        ):
            if lo in out and hi in out and not out[lo] < out[hi]:
                self.fail(where.at(hi), f"{hi} must be above {lo}")
        return out

    def _top_safety(self, top: Where) -> None:
        if self.body.safety is None:
            return
        vals = self._safety_values(self.body.safety, top.at("safety"), self.env)
        self.safety_current_c = vals.pop("abs_current_max_c", None)
        self.safety = P.Safety(
            voltage_min_V=vals.get("voltage_min"),
            voltage_max_V=vals.get("voltage_max"),
            abs_current_max_A=vals.get("abs_current_max"),
            temperature_min_degC=vals.get("temperature_min"),
            temperature_max_degC=vals.get("temperature_max"),
            capacity_max_Ah=vals.get("capacity_max"),
            pressure_min_Pa=vals.get("pressure_min"),
            pressure_max_Pa=vals.get("pressure_max"),
        )

    def _check_safety_required(self, top: Where) -> None:
        w = top.at("safety") if self.body.safety is not None else top
        where_text = (
            "its safety block" if self.body.safety is not None else "it has no safety block and"
        )
        s = self.safety
        electrical = self.has_kinds & {"cc", "cv", "cccv", "cp", "pulse_train", "sweep", "eis_geis"}
        if electrical or "eis" in self.has_kinds:
            for name, value in (("voltage_min", s.voltage_min_V), ("voltage_max", s.voltage_max_V)):
                if value is None:
                    self.fail(
                        w,
                        f"the protocol drives the cell but {where_text} sets no {name}; safety "
                        "limits are never optional",
                    )
        if electrical and s.abs_current_max_A is None and self.safety_current_c is None:
            if self.body.safety is None or self.body.safety.abs_current_max is None:
                self._derive_current_safety()
        if "set_temperature" in self.has_kinds and s.temperature_max_degC is None:
            self.fail(w, f"the protocol sets temperatures but {where_text} sets no temperature_max")
        if "set_pressure" in self.has_kinds and s.pressure_max_Pa is None:
            self.fail(
                w, f"the protocol sets a stack pressure but {where_text} sets no pressure_max"
            )

    def _derive_current_safety(self) -> None:
        """No abs_current_max given: use 1.5 × the largest step current, and say so."""
        amps = [
            abs(p.fields.get(k, math.nan))
            for p in self.protos
            for k in ("current_A", "pulse_current_A")
            if k in p.fields
        ]
        rates = [abs(p.fields["c_rate"]) for p in self.protos if p.fields.get("c_rate") is not None]
        finite = [a for a in amps if math.isfinite(a)]
        if finite and len(finite) == len(amps):
            limit = 1.5 * max(finite)
            self.safety = dataclasses.replace(self.safety, abs_current_max_A=limit)
            self.notes.append(
                "safety abs_current_max not given: set to 1.5 × the largest step current = "
                f"{U.format_si(limit, 'A')}"
            )
        elif rates:
            self.safety_current_c = 1.5 * max(rates)
            self.notes.append(
                "safety abs_current_max not given: set to 1.5 × the largest step rate = "
                f"{self.safety_current_c:g}C"
            )

    # -- blocks -------------------------------------------------------------------------------
    def _block(self, items: Any, where: Where, ctx: Context) -> None:
        if not isinstance(items, list):
            self.fail(where, "must be a list of steps")
            return
        pending_tags: list[tuple[str, Where]] = []
        start_count = len(self.protos)
        for i, item in enumerate(items):
            w = where.at(i)
            before = len(self.protos)
            if isinstance(item, Included):
                self._block(item.steps, Where(item.doc, item.path), ctx)
            else:
                self._item(item, w, ctx, pending_tags)
            if len(self.protos) > before and pending_tags:
                for name, _tw in pending_tags:
                    self.protos[before].tags.append(name)
                pending_tags.clear()
        for name, tw in pending_tags:
            self.fail(tw, f"the tag '{name}' is not followed by any step in its block")
            ctx.scope.tags.pop(name, None)
        del start_count

    def _item(
        self, item: Any, w: Where, ctx: Context, pending_tags: list[tuple[str, Where]]
    ) -> None:
        if isinstance(item, str):
            self._pybamm({"pybamm": item}, w, ctx, string_form=True)
            return
        if not isinstance(item, dict) or not item:
            self.fail(
                w,
                "a step must be a mapping with one key naming its type (e.g. 'rest: "
                "{duration: 1 h}') or a PyBaMM string",
            )
            return
        if "pybamm" in item:
            self._pybamm(item, w, ctx)
            return
        if len(item) != 1:
            keys = ", ".join(item)
            self.fail(
                w,
                f"a step has exactly one key naming its type, but this one has {keys}; put the "
                f"fields inside the type, e.g. 'cc: {{rate: 0.5C, ...}}'",
            )
            return
        ((kind, body),) = item.items()
        bw = w.at(kind)
        if kind not in S.STEP_TYPES:
            self.fail(bw, f"unknown step type '{kind}'; valid types are: {', '.join(S.STEP_TYPES)}")
            return
        if kind == "tag":
            self._tag(body, bw, ctx, pending_tags)
            return
        if kind == "include":
            self.fail(
                bw,
                "include is resolved when the file is loaded from disk; load the file with "
                "protocols.load()",
            )
            return
        if kind == "loop":
            self._loop(body, bw, ctx)
            return
        if kind in ("repeat", "for_each"):
            self._repeat(kind, body, bw, ctx)
            return
        body = {} if body is None and kind in ("advance_cycle", "rest", "wait") else body
        body = self.subst(body, bw, ctx.env)
        if body is _BAD:
            return
        self._step(kind, body, bw, ctx)

    def _validate(self, model: type[BaseModel], body: Any, where: Where) -> Any:
        if not isinstance(body, dict):
            fields = ", ".join(model.model_fields)
            self.fail(where, f"must be a mapping of fields ({fields}), not {S._type_word(body)}")
            return None
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            for p in S.validation_problems(
                exc, model, where.doc.file, where.path, where.doc.line_of
            ):
                if p not in self.problems:
                    self.problems.append(p)
            return None

    def _tag(self, body: Any, w: Where, ctx: Context, pending: list[tuple[str, Where]]) -> None:
        if not isinstance(body, str) or not _NAME_RE.match(body):
            self.fail(
                w, "a tag is a plain name of letters, digits and underscores, e.g. 'tag: aging'"
            )
            return
        if body in ctx.scope.tags:
            self.fail(w, f"the tag '{body}' is defined twice in the same block")
            return
        ctx.scope.tags[body] = (len(self.protos), ctx.block)
        pending.append((body, w))

    def _loop(self, body: Any, w: Where, ctx: Context) -> None:
        body = self.subst(body, w, ctx.env)
        if body is _BAD:
            return
        lb = self._validate(S.LoopBody, body, w)
        if lb is None:
            return
        found = ctx.scope.tags.get(lb.loop_to)
        if found is None:
            outer = ctx.scope.find(lb.loop_to)
            if outer is not None:
                self.fail(
                    w.at("loop_to"),
                    f"the tag '{lb.loop_to}' is outside this block; a loop must go back to a tag "
                    "in its own block",
                )
            else:
                known = ", ".join(ctx.scope.all_names()) or "none"
                self.fail(
                    w.at("loop_to"),
                    f"no step is tagged '{lb.loop_to}' before this loop; tags here: {known}",
                )
            return
        start, block = found
        end = len(self.protos) - 1
        if block != ctx.block:
            self.fail(
                w.at("loop_to"),
                f"the tag '{lb.loop_to}' is in another block; a loop must go back to a tag in its "
                "own block",
            )
            return
        if start > end:
            self.fail(w.at("loop_to"), f"nothing lies between the tag '{lb.loop_to}' and this loop")
            return
        for span in self.loops:
            if span.start < start <= span.end < end:
                self.fail(
                    w,
                    f"this loop crosses another loop (steps {span.start}–{span.end}); loops must "
                    "nest",
                )
                return
        self.loops.append(LoopSpan(start, end, lb.count, f"loop to {lb.loop_to} ×{lb.count}"))
        self.loop_wheres.append(w)

    def _repeat(self, kind: str, body: Any, w: Where, ctx: Context) -> None:
        if not isinstance(body, dict):
            self.fail(
                w,
                f"'{kind}' needs a mapping with 'steps' (and "
                f"'times'{' and over' if kind == 'for_each' else ''})",
            )
            return
        header = {k: v for k, v in body.items() if k != "steps"}
        header = self.subst(header, w, ctx.env)
        if header is _BAD:
            return
        header["steps"] = body.get("steps")
        model = S.RepeatBody if kind == "repeat" else S.ForEachBody
        rb = self._validate(model, header, w)
        if rb is None:
            return
        cycle_type = rb.cycle_type or ctx.cycle_type
        if kind == "repeat":
            self._loop_body(
                rb.steps,
                w.at("steps"),
                ctx,
                rb.times,
                cycle_type,
                rb.label or "repeat",
                ctx.env,
                new_scope=False,
            )
            return
        over: dict[str, Any] = rb.over
        if not over:
            self.fail(
                w.at("over"),
                "'over' names at least one variable with its list of values, e.g. over: "
                "{rate: [0.1C, 0.5C]}",
            )
            return
        lengths = set()
        for name, values in over.items():
            if not _NAME_RE.match(name):
                self.fail(w.at("over").at(name), f"'{name}' is not a valid variable name")
                return
            if not isinstance(values, list) or not values:
                self.fail(w.at("over").at(name), f"the values of '{name}' must be a non-empty list")
                return
            if len(values) > 10_000:
                self.fail(
                    w.at("over").at(name), f"the values of '{name}' are too many (at most 10000)"
                )
                return
            lengths.add(len(values))
        if len(lengths) != 1:
            self.fail(w.at("over"), "every variable in 'over' needs the same number of values")
            return
        (n,) = lengths
        for i in range(n):
            env = dict(ctx.env)
            note = []
            for name, values in over.items():
                env[name] = values[i]
                note.append(f"{name} = {values[i]}")
            label = rb.label or "for_each"
            self._loop_body(
                rb.steps,
                w.at("steps"),
                ctx,
                rb.times or 1,
                cycle_type,
                f"{label} ({', '.join(note)})",
                env,
                new_scope=True,
            )

    def _loop_body(
        self,
        steps: list[Any],
        w: Where,
        ctx: Context,
        times: int | None,
        cycle_type: str | None,
        label: str,
        env: dict[str, Any],
        *,
        new_scope: bool,
    ) -> None:
        start = len(self.protos)
        scope = Scope(parent=ctx.scope) if new_scope else ctx.scope
        inner = Context(env, scope, self._new_block(), cycle_type, label)
        self._block(steps, w, inner)
        end = len(self.protos) - 1
        if end < start:
            return
        if times is None or times > 1:
            self.loops.append(LoopSpan(start, end, times, f"{label} ×{times if times else '∞'}"))
            self.loop_wheres.append(w)

    # -- steps --------------------------------------------------------------------------------
    def _pybamm(
        self, item: dict[str, Any], w: Where, ctx: Context, string_form: bool = False
    ) -> None:
        item = self.subst(item, w, ctx.env)
        if item is _BAD:
            return
        text = item.get("pybamm")
        pw = w if string_form else w.at("pybamm")
        if not isinstance(text, str):
            self.fail(pw, "a PyBaMM step is text, e.g. 'Discharge at 0.5C until 3.0 V'")
            return
        try:
            kind, body = parse_step(text)
        except PybammSyntaxError as exc:
            self.fail(pw, str(exc))
            return
        extra = {k: v for k, v in item.items() if k != "pybamm"}
        if extra:
            pb = self._validate(S.PybammBody, dict(item), w)
            if pb is None:
                return
            for key, value in extra.items():
                if key == "until":
                    body.setdefault("until", []).extend(value)
                else:
                    body[key] = value
        self._step(kind, body, w, ctx, from_pybamm=True)

    def _step(
        self, kind: str, body: Any, w: Where, ctx: Context, *, from_pybamm: bool = False
    ) -> None:
        model = S.STEP_BODIES[kind]
        b = self._validate(model, body, w)
        if b is None:
            return
        kind = {"ocv": "rest", "hold": "cv"}.get(kind, kind)
        handler = getattr(self, f"_s_{kind}")
        proto: Proto | None = handler(b, w)
        if proto is None:
            return
        self.has_kinds.add(
            proto.kind
            if proto.kind != "eis"
            else ("eis_geis" if proto.fields.get("mode") == "galvanostatic" else "eis")
        )
        common = isinstance(b, S.Common)
        label = b.label if getattr(b, "label", "") else ""
        proto.fields.setdefault("label", label or self._describe(proto))
        cycle_type = getattr(b, "cycle_type", None) or ctx.cycle_type
        proto.fields["cycle_type"] = cycle_type
        if common:
            base = self.record
            proto.fields["record"] = (
                self._record(b.record, w.at("record"), base) if b.record else base
            )
            if b.tag:
                if not _NAME_RE.match(b.tag):
                    self.fail(
                        w.at("tag"), "a tag is a plain name of letters, digits and underscores"
                    )
                elif b.tag in ctx.scope.tags:
                    self.fail(w.at("tag"), f"the tag '{b.tag}' is defined twice in the same block")
                else:
                    ctx.scope.tags[b.tag] = (len(self.protos), ctx.block)
                    proto.tags.append(b.tag)
            limits: list[LimitProto] = []
            problems_before = len(self.problems)
            if b.duration is not None:
                v = self.q(b.duration, (U.TIME,), w.at("duration"), positive=True)
                if v is not None:
                    limits.append(
                        LimitProto(
                            P.Limit("step_time", ">=", v.value, label=f"step_time >= {v.text}"),
                            w.at("duration"),
                        )
                    )
            for i, entry in enumerate(b.until):
                lp = self._limit(entry, w.at("until").at(i), proto, ctx)
                if lp is not None:
                    limits.append(lp)
            if b.safety is not None:
                limits.extend(self._step_safety(b.safety, w.at("safety"), ctx))
            proto.limits = limits + proto.limits
            if (
                kind in ("rest", "cc", "cv", "cccv", "cp", "wait")
                and len(self.problems) == problems_before
                and not any(lp.limit.action != "abort" for lp in proto.limits)
            ):
                self.fail(w, f"a {kind} step needs an end: give 'duration' or an 'until' limit")
                return
        self.protos.append(proto)

    def _describe(self, proto: Proto) -> str:
        f = proto.fields
        if proto.kind in ("cc", "pulse_train", "cccv"):
            return f"{proto.kind} {proto.direction} {f.get('_setpoint_text', '')}".strip()
        if proto.kind == "cv":
            return f"hold {f.get('_setpoint_text', '')}".strip()
        return f.get("_setpoint_text", proto.kind) if proto.kind not in ("rest",) else "rest"

    def _direction(self, b: Any, w: Where, kind: str) -> str | None:
        if b.direction is None:
            self.fail(
                w.at("direction"),
                f"a {kind} step needs 'direction: charge' or 'direction: discharge'",
            )
            return None
        return str(b.direction)

    def _setpoint_current(
        self, b: Any, w: Where, kind: str
    ) -> tuple[float, float | None, str] | None:
        if b.current is not None and b.rate is not None:
            self.fail(w, "give either 'current' or 'rate', not both")
            return None
        if b.current is None and b.rate is None:
            self.fail(
                w,
                f"a {kind} step needs 'current' (A, mA/cm², mA/g or a C-rate) or 'rate' (e.g. "
                "0.5C)",
            )
            return None
        key = "rate" if b.rate is not None else "current"
        kinds = (
            (U.C_RATE,)
            if key == "rate"
            else (U.CURRENT, U.C_RATE, U.CURRENT_DENSITY, U.SPECIFIC_CURRENT)
        )
        v = self.q(getattr(b, key), kinds, w.at(key))
        if v is None:
            return None
        if v.value <= 0:
            self.fail(
                w.at(key),
                f"'{v.text}' must be a positive magnitude; the sign comes from 'direction'",
            )
            return None
        direction = self._direction(b, w, kind)
        if direction is None:
            return None
        sign = 1.0 if direction == "charge" else -1.0
        amps = self.amps(v, w.at(key))
        c_rate = self.c_rate_of(v)
        return sign * amps, (sign * c_rate if c_rate is not None else None), v.text

    def _check_current_vs_safety(self, amps: float, c_rate: float | None, w: Where) -> None:
        s_max = self.safety.abs_current_max_A
        if s_max is not None and math.isfinite(amps) and abs(amps) > s_max * (1 + 1e-9):
            self.fail(
                w,
                f"the current {U.format_si(abs(amps), 'A')} exceeds the safety abs_current_max "
                f"{U.format_si(s_max, 'A')}, so the safety limit would trip at once",
            )
        elif (
            self.safety_current_c is not None
            and c_rate is not None
            and abs(c_rate) > self.safety_current_c * (1 + 1e-9)
        ):
            self.fail(
                w,
                f"the rate {abs(c_rate):g}C exceeds the safety abs_current_max "
                f"{self.safety_current_c:g}C, so the safety limit would trip at once",
            )

    def _s_rest(self, b: S.RestBody, w: Where) -> Proto:
        return Proto(P.Rest, {}, [], w, "rest")

    def _s_wait(self, b: S.WaitBody, w: Where) -> Proto:
        return Proto(P.Wait, {"_setpoint_text": "wait"}, [], w, "wait")

    def _s_advance_cycle(self, b: S.AdvanceCycleBody, w: Where) -> Proto:
        return Proto(P.AdvanceCycle, {"_setpoint_text": "advance cycle"}, [], w, "advance_cycle")

    def _s_cc(self, b: S.CCBody, w: Where) -> Proto | None:
        sp = self._setpoint_current(b, w, "cc")
        if sp is None:
            return None
        amps, c_rate, text = sp
        self._check_current_vs_safety(amps, c_rate, w)
        return Proto(
            P.ConstantCurrent,
            {"current_A": amps, "c_rate": c_rate, "_setpoint_text": text},
            [],
            w,
            "cc",
            str(b.direction),
        )

    def _s_cv(self, b: S.CVBody, w: Where) -> Proto | None:
        v = self.q(b.voltage, (U.VOLTAGE,), w.at("voltage"), reference=True)
        if v is None:
            return None
        limit_A = None
        if b.current_limit is not None:
            c = self.q(
                b.current_limit,
                (U.CURRENT, U.C_RATE, U.CURRENT_DENSITY, U.SPECIFIC_CURRENT),
                w.at("current_limit"),
                positive=True,
            )
            if c is not None:
                limit_A = self.amps(c, w.at("current_limit"))
        volts = self.cell_v(v)
        self._check_voltage_in_safety(volts, v.text, w.at("voltage"), "held voltage")
        return Proto(
            P.ConstantVoltage,
            {"voltage_V": volts, "current_limit_A": limit_A, "_setpoint_text": v.text},
            [],
            w,
            "cv",
        )

    def _s_cccv(self, b: S.CCCVBody, w: Where) -> Proto | None:
        sp = self._setpoint_current(b, w, "cccv")
        v = self.q(b.voltage, (U.VOLTAGE,), w.at("voltage"), reference=True)
        if sp is None or v is None:
            return None
        amps, c_rate, text = sp
        volts = self.cell_v(v)
        self._check_current_vs_safety(amps, c_rate, w)
        self._check_voltage_in_safety(volts, v.text, w.at("voltage"), "CV voltage")
        return Proto(
            P.ConstantCurrentConstantVoltage,
            {
                "current_A": amps,
                "voltage_V": volts,
                "c_rate": c_rate,
                "_setpoint_text": f"{text} to {v.text}",
            },
            [],
            w,
            "cccv",
            str(b.direction),
        )

    def _s_cp(self, b: S.CPBody, w: Where) -> Proto | None:
        v = self.q(b.power, (U.POWER,), w.at("power"), positive=True)
        direction = self._direction(b, w, "cp")
        if v is None or direction is None:
            return None
        sign = 1.0 if direction == "charge" else -1.0
        return Proto(
            P.ConstantPower,
            {"power_W": sign * v.value, "_setpoint_text": f"{direction} {v.text}"},
            [],
            w,
            "cp",
            direction,
        )

    def _s_pulse_train(self, b: S.PulseTrainBody, w: Where) -> Proto | None:
        sp = self._setpoint_current(b, w, "pulse_train")
        pulse = self.q(b.pulse, (U.TIME,), w.at("pulse"), positive=True)
        relax = self.q(b.relax, (U.TIME,), w.at("relax"), positive=True)
        dvdt = None
        if b.relax_until_dV_dt is not None:
            d = self.q(b.relax_until_dV_dt, (U.DVDT,), w.at("relax_until_dV_dt"), positive=True)
            dvdt = d.value if d else None
        if sp is None or pulse is None or relax is None:
            return None
        amps, c_rate, text = sp
        self._check_current_vs_safety(amps, c_rate, w)
        return Proto(
            P.PulseTrain,
            {
                "pulse_current_A": amps,
                "pulse_s": pulse.value,
                "relax_s": relax.value,
                "n_pulses": b.n_pulses,
                "relax_dV_dt_V_s": dvdt,
                "c_rate": c_rate,
                "_setpoint_text": f"{text}, {b.n_pulses} × ({pulse.text} + {relax.text} rest)",
            },
            [],
            w,
            "pulse_train",
            str(b.direction),
        )

    def _s_eis(self, b: S.EISBody, w: Where) -> Proto | None:
        mode = "galvanostatic" if b.mode.lower() in ("galvanostatic", "geis") else "potentiostatic"
        f1 = self.q(b.f_start, (U.FREQUENCY,), w.at("f_start"), positive=True)
        f2 = self.q(b.f_end, (U.FREQUENCY,), w.at("f_end"), positive=True)
        ok = True
        for f, key in ((f1, "f_start"), (f2, "f_end")):
            if f is not None and not (1e-5 <= f.value <= 1e7):
                self.fail(
                    w.at(key),
                    f"'{f.text}' is outside 10 µHz–10 MHz, the range impedance analysers cover",
                )
                ok = False
        if f1 is not None and f2 is not None and f1.value == f2.value:
            self.fail(w.at("f_end"), "f_start and f_end must differ")
            ok = False
        amplitude: float | None = None
        if mode == "potentiostatic":
            a = self.q(b.amplitude, (U.VOLTAGE,), w.at("amplitude"), positive=True)
            if a is not None:
                if a.value > 0.1:
                    self.fail(
                        w.at("amplitude"),
                        f"an EIS amplitude of {a.text} is not small-signal; use 5–20 mV (at most "
                        "100 mV)",
                    )
                    ok = False
                amplitude = a.value
        else:
            a = self.q(
                b.amplitude,
                (U.CURRENT, U.C_RATE, U.CURRENT_DENSITY, U.SPECIFIC_CURRENT),
                w.at("amplitude"),
                positive=True,
            )
            if a is not None:
                amplitude = self.amps(a, w.at("amplitude"))
        bias: float | None = None
        if not (
            isinstance(b.dc_bias, str)
            and b.dc_bias.strip().lower() in ("ocv", "ocp", "open circuit")
        ):
            if mode == "potentiostatic":
                d = self.q(b.dc_bias, (U.VOLTAGE,), w.at("dc_bias"), reference=True)
                bias = self.cell_v(d) if d else None
            else:
                d = self.q(b.dc_bias, (U.CURRENT, U.C_RATE), w.at("dc_bias"))
                bias = self.amps(d, w.at("dc_bias")) if d else None
            if d is None:
                ok = False
        if f1 is None or f2 is None or amplitude is None or not ok:
            return None
        text = (
            f"{'PEIS' if mode == 'potentiostatic' else 'GEIS'} {f1.text} → {f2.text}, {b.amplitude}"
        )
        return Proto(
            P.Impedance,
            {
                "mode": mode,
                "f_start_Hz": f1.value,
                "f_end_Hz": f2.value,
                "points_per_decade": b.points_per_decade,
                "amplitude": amplitude,
                "dc_bias": bias,
                "averages": b.averages,
                "_setpoint_text": text,
            },
            [],
            w,
            "eis",
        )

    def _sweep_voltage(self, raw: Any, w: Where) -> tuple[float | None, bool, str]:
        if isinstance(raw, str) and raw.strip().lower() in ("ocv", "ocp"):
            return None, True, "OCV"
        v = self.q(raw, (U.VOLTAGE,), w, reference=True)
        if v is None:
            return None, False, ""
        volts = self.cell_v(v)
        self._check_voltage_in_safety(volts, v.text, w, "sweep voltage")
        return volts, False, v.text

    def _s_sweep(self, b: S.SweepBody, w: Where) -> Proto | None:
        start, at_ocv, start_text = self._sweep_voltage(b.start, w.at("start"))
        verts = [self._sweep_voltage(x, w.at("vertices").at(i)) for i, x in enumerate(b.vertices)]
        for i, (_v, ocv, _t) in enumerate(verts):
            if ocv:
                self.fail(w.at("vertices").at(i), "a vertex must be a voltage, not OCV")
        end_raw = b.end if b.end is not None else b.start
        end, end_ocv, _ = self._sweep_voltage(end_raw, w.at("end"))
        rate = self.q(b.scan_rate, (U.SCAN_RATE,), w.at("scan_rate"), positive=True)
        if (
            rate is None
            or (start is None and not at_ocv)
            or any(v is None for v, _, _ in verts)
            or (end is None and not end_ocv)
        ):
            return None
        return Proto(
            P.Sweep,
            {
                "start_V": start if start is not None else 0.0,
                "vertices_V": tuple(v for v, _, _ in verts if v is not None),
                "end_V": end if end is not None else (start if start is not None else 0.0),
                "scan_rate_V_s": rate.value,
                "n_cycles": b.cycles,
                "start_at_ocv": at_ocv,
                "_setpoint_text": f"CV {start_text} ↔ {', '.join(t for _, _, t in verts)} at "
                f"{rate.text} × {b.cycles}",
            },
            [],
            w,
            "sweep",
        )

    def _s_lsv(self, b: S.LSVBody, w: Where) -> Proto | None:
        start, at_ocv, start_text = self._sweep_voltage(b.start, w.at("start"))
        end, end_ocv, end_text = self._sweep_voltage(b.end, w.at("end"))
        if end_ocv:
            self.fail(w.at("end"), "the end of a linear sweep must be a voltage")
            return None
        rate = self.q(b.scan_rate, (U.SCAN_RATE,), w.at("scan_rate"), positive=True)
        if rate is None or end is None or (start is None and not at_ocv):
            return None
        return Proto(
            P.Sweep,
            {
                "start_V": start if start is not None else 0.0,
                "vertices_V": (),
                "end_V": end,
                "scan_rate_V_s": rate.value,
                "n_cycles": 1,
                "start_at_ocv": at_ocv,
                "_setpoint_text": f"LSV {start_text} → {end_text} at {rate.text}",
            },
            [],
            w,
            "sweep",
        )

    def _s_set_temperature(self, b: S.SetTemperatureBody, w: Where) -> Proto | None:
        t = self.q(b.target, (U.TEMPERATURE,), w.at("target"))
        if t is None:
            return None
        if not -100 <= t.value <= 300:
            self.fail(
                w.at("target"), f"{t.text} is outside what a test chamber does (−100 to 300 °C)"
            )
            return None
        fields: dict[str, Any] = {"target_degC": t.value, "_setpoint_text": f"chamber to {t.text}"}
        for key, kind, out, pos in (
            ("ramp", U.RAMP, "ramp_K_per_min", True),
            ("tolerance", U.DELTA_T, "tolerance_K", True),
            ("stable_for", U.TIME, "stable_for_s", False),
            ("soak", U.TIME, "soak_s", False),
            ("timeout", U.TIME, "timeout_s", True),
        ):
            raw = getattr(b, key)
            if raw is None:
                continue
            v = self.q(raw, (kind,), w.at(key), positive=pos, nonneg=not pos)
            if v is None:
                return None
            fields[out] = v.value
        s = self.safety
        if s.temperature_max_degC is not None and t.value > s.temperature_max_degC:
            self.fail(
                w.at("target"),
                f"{t.text} is above the safety temperature_max {s.temperature_max_degC:g} °C",
            )
        if s.temperature_min_degC is not None and t.value < s.temperature_min_degC:
            self.fail(
                w.at("target"),
                f"{t.text} is below the safety temperature_min {s.temperature_min_degC:g} °C",
            )
        return Proto(P.SetTemperature, fields, [], w, "set_temperature")

    def _s_set_pressure(self, b: S.SetPressureBody, w: Where) -> Proto | None:
        if (b.target is None) == (b.force is None):
            self.fail(
                w,
                "set_pressure needs either 'target' (e.g. 15 MPa) or 'force' (e.g. 1178 N), not "
                "both",
            )
            return None
        text = ""
        if b.target is not None:
            p = self.q(b.target, (U.PRESSURE,), w.at("target"), nonneg=True)
            if p is None:
                return None
            pascal, text = p.value, p.text
        else:
            f = self.q(b.force, (U.FORCE,), w.at("force"), nonneg=True)
            if f is None:
                return None
            area = self.basis.area_cm2 if self.basis else None
            if not area:
                self.need(
                    w.at("force"),
                    f"'{f.text}' is a force, so the cell area must be known to give a pressure",
                )
                pascal = math.nan
            else:
                pascal = f.value / (area * 1e-4)
            text = f.text
        fields: dict[str, Any] = {"target_Pa": pascal, "_setpoint_text": f"stack pressure {text}"}
        for key, kind, out in (
            ("tolerance", U.PRESSURE, "tolerance_Pa"),
            ("settle", U.TIME, "settle_s"),
            ("timeout", U.TIME, "timeout_s"),
        ):
            raw = getattr(b, key)
            if raw is None:
                continue
            v = self.q(raw, (kind,), w.at(key), positive=key != "settle", nonneg=True)
            if v is None:
                return None
            fields[out] = v.value
        s = self.safety
        if s.pressure_max_Pa is not None and math.isfinite(pascal) and pascal > s.pressure_max_Pa:
            self.fail(
                w.at("target"),
                f"{text} is above the safety pressure_max {s.pressure_max_Pa / 1e6:g} MPa",
            )
        if s.pressure_min_Pa is not None and math.isfinite(pascal) and pascal < s.pressure_min_Pa:
            self.fail(
                w.at("target"),
                f"{text} is below the safety pressure_min {s.pressure_min_Pa / 1e6:g} MPa",
            )
        return Proto(P.SetPressure, fields, [], w, "set_pressure")

    def _check_voltage_in_safety(self, volts: float, text: str, w: Where, what: str) -> None:
        s = self.safety
        if s.voltage_max_V is not None and volts > s.voltage_max_V + 1e-9:
            self.fail(w, f"the {what} {text} is above the safety voltage_max {s.voltage_max_V:g} V")
        if s.voltage_min_V is not None and volts < s.voltage_min_V - 1e-9:
            self.fail(w, f"the {what} {text} is below the safety voltage_min {s.voltage_min_V:g} V")

    # -- limits -------------------------------------------------------------------------------
    def _limit(self, entry: Any, w: Where, proto: Proto, ctx: Context) -> LimitProto | None:
        action, target, after, label_in = "next", None, 0.0, ""
        if isinstance(entry, str):
            m = _LIMIT_TEXT_RE.match(entry)
            if not m:
                self.fail(
                    w,
                    f"'{entry}' is not a limit; write e.g. 'voltage <= 3.0 V' or "
                    f"{{voltage: '<= 3.0 V', action: end_loop}}",
                )
                return None
            name, op_text, value = m.group(1), m.group(2) or "", m.group(3)
            value = f"{op_text} {value}"
        elif isinstance(entry, dict):
            names = [k for k in entry if k in LIMIT_NAMES]
            others = [
                k
                for k in entry
                if k not in LIMIT_NAMES and k not in ("action", "goto", "after", "label")
            ]
            if others:
                self.fail(
                    w.at(others[0]),
                    f"unknown key '{others[0]}' in a limit; a limit has one quantity "
                    f"({', '.join(LIMIT_NAMES)}) and optionally action, goto, after",
                )
                return None
            if len(names) != 1:
                self.fail(
                    w,
                    f"a limit names exactly one quantity ({', '.join(LIMIT_NAMES)}), e.g. "
                    f"{{voltage: '<= 3.0 V'}}",
                )
                return None
            name = names[0]
            value = entry[name]
            if "action" in entry:
                action = entry["action"]
                if action not in ACTIONS:
                    self.fail(
                        w.at("action"),
                        f"unknown action '{action}'; valid actions: {', '.join(ACTIONS)}",
                    )
                    return None
            if "goto" in entry:
                target = entry["goto"]
                if not isinstance(target, str) or not _NAME_RE.match(target):
                    self.fail(w.at("goto"), "goto names a tag, e.g. goto: aging")
                    return None
                if action not in ("next", "goto"):
                    self.fail(w.at("goto"), f"a limit cannot both goto '{target}' and {action}")
                    return None
                action = "goto"
            elif action == "goto":
                self.fail(w.at("action"), "action goto needs 'goto: <tag>' naming where to go")
                return None
            if "after" in entry:
                a = self.q(entry["after"], (U.TIME,), w.at("after"), nonneg=True)
                if a is None:
                    return None
                after = a.value
            label_in = str(entry.get("label") or "")
            w = w.at(name)
        else:
            self.fail(
                w, "a limit is a mapping like {voltage: '<= 3.0 V'} or text like 'voltage <= 3.0 V'"
            )
            return None
        if name not in LIMIT_NAMES:
            self.fail(w, f"unknown limit quantity '{name}'; valid: {', '.join(LIMIT_NAMES)}")
            return None
        quantity = LIMIT_NAMES[name]
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.fail(w, f"the limit value must be text like '<= 3.0 V', not {S._type_word(value)}")
            return None
        m = _OP_RE.match(value)
        assert m is not None
        op, rest = m.group(1), m.group(2)
        if op in ("=", "=="):
            self.fail(
                w,
                f"'{value.strip()}' uses '{op}'; a limit compares with <=, >=, < or > (measured "
                "values never equal a number exactly)",
            )
            return None
        op = {"=<": "<=", "=>": ">="}.get(op or "", op)
        result = self._limit_value(quantity, op, rest, w, proto)
        if result is None:
            return None
        quantity, op, number, shown = result
        label = label_in or f"{name} {op} {shown}"
        limit = P.Limit(
            quantity, op, number, action=action, target=target, after_s=after, label=label
        )  # type: ignore[arg-type]
        self._never_fires(limit, proto, w)
        return LimitProto(limit, w, ctx.scope)

    def _limit_value(
        self, quantity: str, op: str | None, text: str, w: Where, proto: Proto
    ) -> tuple[str, str, float, str] | None:
        direction = proto.direction
        if quantity in ("step_time", "test_time"):
            v = self.q(text, (U.TIME,), w, positive=True)
            if v is None:
                return None
            return quantity, op or ">=", v.value, v.text
        if quantity == "voltage":
            v = self.q(text, (U.VOLTAGE,), w, reference=True)
            if v is None:
                return None
            if op is None:
                if direction == "charge":
                    op = ">="
                elif direction == "discharge":
                    op = "<="
                else:
                    self.fail(
                        w,
                        f"give a comparison for this voltage limit, e.g. '<= {v.text}' or '>= "
                        f"{v.text}'",
                    )
                    return None
            return quantity, op, self.cell_v(v), v.text
        if quantity in ("abs_current", "current"):
            v = self.q(text, (U.CURRENT, U.C_RATE, U.CURRENT_DENSITY, U.SPECIFIC_CURRENT), w)
            if v is None:
                return None
            if quantity == "abs_current" and v.value < 0:
                self.fail(
                    w,
                    f"'{v.text}' is negative, but a current limit compares the magnitude |I|; use "
                    "signed_current for a signed limit",
                )
                return None
            if v.kind is U.C_RATE and self.one_c_A is None:
                return "rate", op or "<", abs(v.value), v.text
            amps = self.amps(v, w)
            return quantity, op or "<", amps, v.text
        if quantity == "rate":
            v = self.q(text, (U.C_RATE, U.NUMBER_KIND), w, nonneg=True)
            if v is None:
                return None
            if self.one_c_A is not None:
                return "abs_current", op or "<", v.value * self.one_c_A, v.text
            return "rate", op or "<", v.value, v.text
        if quantity == "step_capacity":
            v = self.q(text, (U.CHARGE, U.SPECIFIC_CHARGE, U.AREAL_CHARGE), w, positive=True)
            if v is None:
                return None
            if v.kind is U.CHARGE:
                return quantity, op or ">=", v.value, v.text
            if v.kind is U.SPECIFIC_CHARGE:
                mass = self.basis.active_mass_g if self.basis else None
                if not mass:
                    self.need(w, f"'{v.text}' is per gram, so the active mass must be known")
                    return quantity, op or ">=", math.nan, v.text
                return quantity, op or ">=", v.value * mass, v.text
            area = self.basis.area_cm2 if self.basis else None
            if not area:
                self.need(w, f"'{v.text}' is per cm², so the electrode area must be known")
                return quantity, op or ">=", math.nan, v.text
            return quantity, op or ">=", v.value * area, v.text
        if quantity in ("dV_dt", "dI_dt"):
            v = self.q(text, (U.DVDT if quantity == "dV_dt" else U.DIDT,), w)
            if v is None:
                return None
            if v.value <= 0:
                self.fail(
                    w,
                    f"'{v.text}': {quantity} limits compare the magnitude, so the value must be "
                    "positive",
                )
                return None
            return quantity, op or "<", v.value, v.text
        if quantity == "temperature":
            v = self.q(text, (U.TEMPERATURE,), w)
            if v is None:
                return None
            if op is None:
                self.fail(w, f"give a comparison for this temperature limit, e.g. '>= {v.text}'")
                return None
            return quantity, op, v.value, v.text
        if quantity == "pressure":
            v = self.q(text, (U.PRESSURE,), w, nonneg=True)
            if v is None:
                return None
            if op is None:
                self.fail(w, f"give a comparison for this pressure limit, e.g. '<= {v.text}'")
                return None
            return quantity, op, v.value, v.text
        # cycle_count, loop_count
        v = self.q(text, (U.NUMBER_KIND,), w)
        if v is None:
            return None
        if v.value != int(v.value) or v.value < 1:
            self.fail(w, f"'{v.text}' must be a whole number of at least 1")
            return None
        return quantity, op or ">=", v.value, v.text

    def _never_fires(self, limit: P.Limit, proto: Proto, w: Where) -> None:
        """Limits that cannot end this kind of step are mistakes, not harmless extras."""
        q, op, kind = limit.quantity, limit.op, proto.kind
        never = ""
        grows = q in ("step_time", "test_time", "cycle_count", "loop_count", "step_capacity")
        if grows and op in ("<", "<="):
            never = (
                f"{q} only grows during a step, so '{limit.label}' would hold at once or "
                "never "
                "change"
            )
        elif q in ("abs_current", "current", "rate", "dI_dt") and kind in (
            "rest",
            "wait",
            "set_temperature",
            "set_pressure",
            "eis",
        ):
            never = (
                f"no current is controlled in a {kind} step, so '{limit.label}' can never end it"
            )
        elif (
            q in ("abs_current", "current", "rate", "dI_dt")
            and kind in ("cc", "pulse_train", "cp")
            and q != "dI_dt"
        ):
            never = (
                f"the current is held constant in a {kind} step, so '{limit.label}' can never "
                "end it"
            )
        elif q == "dI_dt" and kind in ("cc", "pulse_train"):
            never = (
                f"the current is held constant in a {kind} step, so '{limit.label}' can never "
                "end it"
            )
        elif q == "voltage" and kind == "cv":
            never = (
                f"the voltage is held constant in a cv step, so '{limit.label}' can never end it"
            )
        elif q in ("abs_current", "rate") and kind in ("cv", "cccv") and op in (">", ">="):
            never = (
                f"the current only decays while the voltage is held, so '{limit.label}' can "
                "never end it; use '<'"
            )
        elif q == "voltage" and kind in ("cc", "pulse_train", "cp", "cccv"):
            if proto.direction == "charge" and op in ("<", "<="):
                never = (
                    f"the voltage rises on charge, so '{limit.label}' can never end it; use '>='"
                )
            elif proto.direction == "discharge" and op in (">", ">="):
                never = (
                    f"the voltage falls on discharge, so '{limit.label}' can never end it; use '<='"
                )
            if kind == "cccv" and not never:
                never = (
                    f"a cccv step holds its voltage at the end, so '{limit.label}' can never "
                    "end it; end it on current or rate"
                )
        if not never and q == "voltage":
            s = self.safety
            if (
                s.voltage_max_V is not None
                and op in (">", ">=")
                and limit.value > s.voltage_max_V + 1e-9
            ):
                never = (
                    f"'{limit.label}' lies above the safety voltage_max {s.voltage_max_V:g} "
                    "V, "
                    "so the safety limit would end the test first"
                )
            elif (
                s.voltage_min_V is not None
                and op in ("<", "<=")
                and limit.value < s.voltage_min_V - 1e-9
            ):
                never = (
                    f"'{limit.label}' lies below the safety voltage_min {s.voltage_min_V:g} "
                    "V, "
                    "so the safety limit would end the test first"
                )
        if not never and q == "temperature":
            s = self.safety
            if (
                s.temperature_max_degC is not None
                and op in (">", ">=")
                and limit.value > s.temperature_max_degC
            ):
                never = (
                    f"'{limit.label}' lies above the safety temperature_max "
                    f"{s.temperature_max_degC:g} °C, so it can never fire"
                )
        if never:
            self.fail(w, never)

    def _step_safety(self, body: S.SafetyBody, w: Where, ctx: Context) -> list[LimitProto]:
        vals = self._safety_values(body, w, ctx.env)
        vals.pop("abs_current_max_c", None)
        s = self.safety
        out: list[LimitProto] = []
        checks = (
            ("voltage_max", s.voltage_max_V, "voltage", ">=", True, "V"),
            ("voltage_min", s.voltage_min_V, "voltage", "<=", False, "V"),
            ("abs_current_max", s.abs_current_max_A, "abs_current", ">=", True, "A"),
            ("temperature_max", s.temperature_max_degC, "temperature", ">=", True, "°C"),
            ("temperature_min", s.temperature_min_degC, "temperature", "<=", False, "°C"),
            ("capacity_max", s.capacity_max_Ah, "step_capacity", ">=", True, "Ah"),
            ("pressure_max", s.pressure_max_Pa, "pressure", ">=", True, "Pa"),
            ("pressure_min", s.pressure_min_Pa, "pressure", "<=", False, "Pa"),
        )
        for key, glob, quantity, op, is_max, unit in checks:
            if key not in vals:
                continue
            value = vals[key]
            if glob is not None and (
                (is_max and value > glob + 1e-12) or (not is_max and value < glob - 1e-12)
            ):
                self.fail(
                    w.at(key),
                    f"the step's {key} {value:g} {unit} is looser than the protocol's {glob:g} "
                    f"{unit}; a step may only tighten safety limits",
                )
                continue
            out.append(
                LimitProto(
                    P.Limit(quantity, op, value, action="abort", label=f"step safety {key}"),
                    w.at(key),
                    ctx.scope,
                )
            )  # type: ignore[arg-type]
        return out

    # -- finishing ----------------------------------------------------------------------------
    def _finish(self) -> list[P.Step]:
        steps: list[P.Step] = []
        for index, proto in enumerate(self.protos):
            limits = []
            for lp in proto.limits:
                lim = lp.limit
                if lim.action == "goto":
                    scope = lp.scope or self.root
                    target = scope.find(lim.target or "")
                    if target is None:
                        known = ", ".join(scope.all_names()) or "none"
                        self.fail(
                            lp.where, f"goto '{lim.target}' names no tag; tags in reach: {known}"
                        )
                        continue
                    lim = P.Limit(
                        lim.quantity,
                        lim.op,
                        lim.value,
                        "goto",
                        lim.target,
                        lim.after_s,
                        lim.label,
                        target,
                    )
                if lim.action == "end_loop" and not any(s.contains(index) for s in self.loops):
                    self.fail(
                        lp.where,
                        "action end_loop is only meaningful inside a repeat, for_each or loop",
                    )
                    continue
                if lim.quantity == "loop_count" and not any(s.contains(index) for s in self.loops):
                    self.fail(
                        lp.where,
                        "loop_count only means something inside a repeat, for_each or loop",
                    )
                    continue
                limits.append(lim)
            fields = {k: v for k, v in proto.fields.items() if not k.startswith("_")}
            tag = proto.tags[0] if proto.tags else None
            try:
                steps.append(proto.cls(index=index, limits=tuple(limits), tag=tag, **fields))
            except TypeError as exc:  # a programming error, not a user error
                raise RuntimeError(f"cannot build {proto.cls.__name__}: {exc}") from exc
        for span, w in zip(self.loops, self.loop_wheres, strict=True):
            if span.count is not None:
                continue
            if not self._has_exit(span, steps):
                self.fail(
                    w,
                    "this loop has no exit: give 'times', or a limit inside it with action "
                    "end_loop, end_test, abort or a goto out of the loop",
                )
        return steps

    def _has_exit(self, span: LoopSpan, steps: list[P.Step]) -> bool:
        for step in steps[span.start : span.end + 1]:
            for lim in step.limits:
                if lim.action in ("end_test", "abort"):
                    return True
                if lim.action == "end_loop":
                    inner = [
                        s
                        for s in self.loops
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


def compile_plan(
    doc: Document,
    body: S.FileBody,
    steps: list[Any],
    *,
    env: dict[str, Any],
    basis: CapacityBasis | None,
    counter_V: float,
    strict: bool,
    source_text: str,
    sha256: str,
) -> Plan:
    c = Compiler(
        doc,
        body,
        steps,
        env=env,
        basis=basis,
        counter_V=counter_V,
        strict=strict,
        source_text=source_text,
        sha256=sha256,
    )
    return c.run()
