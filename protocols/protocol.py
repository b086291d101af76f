"""The Protocol: a validated protocol file, ready to bind to a cell.

Loading checks everything that can be checked without a cell (structure, units,
parameters, loops, tags, limits, safety) and reports every problem at once. Binding resolves
C-rates, mA/g and mA/cm² into amperes and "vs Li/Li+" voltages into cell voltages.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

from protocols import schema as S
from protocols.basis import CapacityBasis
from protocols.compile import Included, Source, compile_plan
from protocols.errors import Problem, ProtocolError
from protocols.plan import Plan
from protocols.source import Document, parse_yaml

MAX_INCLUDE_DEPTH = 8
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Protocol(BaseModel):
    """A protocol file as written: name, parameters with their defaults, blocks and steps.

    `steps` keeps the file's own step list (ladders unexpanded, `${...}` unresolved); `bind()`
    turns it into a Plan for one cell.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=False)

    name: str
    description: str = ""
    version: int | str = 1
    parameters: dict[str, Any] = {}
    c_rate_basis: S.MaybeQuantity = None
    analyses: list[str] = []
    metadata: dict[str, Any] = {}
    steps: list[Any] = []
    source: str = "<string>"
    source_text: str = ""
    sha256: str = ""

    _source: Source = PrivateAttr()
    _check_plan: Plan = PrivateAttr()

    def bind(
        self,
        basis: CapacityBasis | None = None,
        *,
        overrides: dict[str, object] | None = None,
        counter_electrode_V: float = 0.0,
    ) -> Plan:
        """Resolve the protocol for one cell; without a basis only if no step needs 1C."""
        return self._compile(overrides, basis, counter_electrode_V, strict=True)

    def check(
        self,
        overrides: dict[str, object] | None = None,
        basis: CapacityBasis | None = None,
        counter_electrode_V: float = 0.0,
    ) -> Plan:
        """Compile without insisting on a cell: C-rates stay C-rates, amperes may be NaN."""
        if not overrides and basis is None and counter_electrode_V == 0.0:
            return self._check_plan
        return self._compile(overrides, basis, counter_electrode_V, strict=False)

    def _compile(
        self,
        overrides: dict[str, object] | None,
        basis: CapacityBasis | None,
        counter_electrode_V: float,
        *,
        strict: bool,
    ) -> Plan:
        return compile_plan(
            self._source,
            env=self._env(overrides),
            basis=basis,
            counter_V=float(counter_electrode_V),
            strict=strict,
        )

    @property
    def needs_cell(self) -> bool:
        """True when some current or limit can only be resolved with a capacity basis."""
        return bool(self._check_plan.needs_cell)

    def _env(self, overrides: dict[str, object] | None) -> dict[str, Any]:
        env = dict(self.parameters)
        problems = []
        for key, value in (overrides or {}).items():
            if key not in env:
                known = ", ".join(sorted(env)) or "none"
                problems.append(
                    Problem(
                        self.source,
                        "parameters",
                        f"unknown parameter '{key}' in the overrides; this protocol defines: "
                        f"{known}",
                    )
                )
                continue
            env[key] = value
        if problems:
            raise ProtocolError(problems)
        return env


def load(path: str | Path) -> Protocol:
    """Read a protocol file (and only the files it explicitly includes)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ProtocolError(
            [Problem(str(p), "", f"cannot be read: {exc.strerror or exc}")]
        ) from None
    return loads(raw, source=str(p), base_dir=p.parent)


def loads(
    text: str | bytes, source: str = "<string>", *, base_dir: str | Path | None = None
) -> Protocol:
    """Parse and check protocol text; raises ProtocolError listing every problem found."""
    doc = parse_yaml(text, source)
    source_text = doc.text
    sha = hashlib.sha256(source_text.encode("utf-8")).hexdigest()
    if not isinstance(doc.data, dict):
        raise ProtocolError(
            [Problem(source, "", "must be a mapping with at least 'name', 'safety' and 'steps'", 1)]
        )
    problems: list[Problem] = []
    try:
        body = S.FileBody.model_validate(doc.data)
    except ValidationError as exc:
        problems.extend(S.validation_problems(exc, S.FileBody, source, "", doc.line_of))
        raise ProtocolError(problems) from None
    for name, value in body.parameters.items():
        where = f"parameters.{name}"
        if not _NAME_RE.match(name):
            problems.append(
                Problem(
                    source,
                    where,
                    f"'{name}' is not a valid parameter name (letters, digits, _)",
                    doc.line_of(where),
                )
            )
        elif not _plain(value):
            problems.append(
                Problem(
                    source,
                    where,
                    "a parameter value is a number, text, or a list of those",
                    doc.line_of(where),
                )
            )
    steps = _resolve_includes(
        body.steps,
        doc,
        Path(base_dir) if base_dir is not None else None,
        problems,
        depth=0,
        seen=(),
    )
    if problems:
        raise ProtocolError(problems)
    proto = Protocol(
        name=body.name,
        description=body.description,
        version=body.version,
        parameters=dict(body.parameters),
        c_rate_basis=body.c_rate_basis,
        analyses=list(body.analyses),
        metadata=dict(body.metadata),
        steps=steps,
        source=source,
        source_text=source_text,
        sha256=sha,
    )
    proto._source = Source(doc, body, steps, source_text, sha)
    proto._check_plan = compile_plan(
        proto._source, env=dict(body.parameters), basis=None, counter_V=0.0, strict=False
    )
    return proto


def _plain(value: Any) -> bool:
    if isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list):
        return all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value)
    return False


def _resolve_includes(
    steps: list[Any],
    doc: Document,
    base: Path | None,
    problems: list[Problem],
    depth: int,
    seen: tuple[Path, ...],
    path: str = "steps",
) -> list[Any]:
    """Replace `include: file.yaml` items with the steps of that file (relative, inside base)."""
    out: list[Any] = []
    for i, item in enumerate(steps):
        where = f"{path}[{i}]"
        if isinstance(item, dict) and set(item) == {"include"}:
            inc = _include(item["include"], doc, base, problems, depth, seen, f"{where}.include")
            if inc is not None:
                out.append(inc)
            continue
        if isinstance(item, dict) and len(item) == 1:
            ((kind, body),) = item.items()
            if (
                kind in ("repeat", "for_each")
                and isinstance(body, dict)
                and isinstance(body.get("steps"), list)
            ):
                body = dict(body)
                body["steps"] = _resolve_includes(
                    body["steps"], doc, base, problems, depth, seen, f"{where}.{kind}.steps"
                )
                item = {kind: body}
        out.append(item)
    return out


def _include(
    name: Any,
    doc: Document,
    base: Path | None,
    problems: list[Problem],
    depth: int,
    seen: tuple[Path, ...],
    where: str,
) -> Included | None:
    def fail(msg: str) -> None:
        problems.append(Problem(doc.file, where, msg, doc.line_of(where)))

    if not isinstance(name, str) or not name.strip():
        fail("include names a file next to this one, e.g. include: formation.yaml")
        return None
    rel = PurePosixPath(name.strip())
    if rel.is_absolute() or ".." in rel.parts or "\\" in name or ":" in name:
        fail(
            f"'{name}' must be a relative path inside this protocol's folder (no '..', no absolute "
            "paths)"
        )
        return None
    if rel.suffix.lower() not in (".yaml", ".yml"):
        fail(f"'{name}' is not a .yaml protocol file")
        return None
    if base is None:
        fail(
            "include needs the protocol to be loaded from a file (protocols.load), so the folder "
            "is known"
        )
        return None
    if depth >= MAX_INCLUDE_DEPTH:
        fail(f"includes are nested more than {MAX_INCLUDE_DEPTH} deep")
        return None
    target = (base / rel).resolve()
    root = base.resolve()
    if root not in target.parents:
        fail(f"'{name}' resolves outside this protocol's folder")
        return None
    if target in seen:
        fail(f"'{name}' includes itself (directly or through another file)")
        return None
    try:
        raw = target.read_bytes()
    except OSError as exc:
        fail(f"'{name}' cannot be read: {exc.strerror or exc}")
        return None
    try:
        sub = parse_yaml(raw, str(base / rel))
    except ProtocolError as exc:
        problems.extend(exc.problems)
        return None
    data = sub.data
    if isinstance(data, dict) and "steps" in data:
        steps, path = data["steps"], "steps"
    elif isinstance(data, list):
        steps, path = data, ""
    else:
        fail(f"'{name}' must hold a list of steps, or a mapping with 'steps'")
        return None
    if not isinstance(steps, list):
        fail(f"'{name}' must hold a list of steps")
        return None
    inner = _resolve_includes(
        steps, sub, target.parent, problems, depth + 1, (*seen, target), path or ""
    )
    return Included(sub, inner, path)
