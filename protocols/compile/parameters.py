"""`${name}` parameters: substituted into a step's fields before the step is read."""

from __future__ import annotations

import re
from typing import Any

from protocols.compile.report import Report, Where

BAD = object()  # what `subst` returns when a parameter could not be substituted (already reported)
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PARAM_RE = re.compile(r"\$\{([^}]*)\}")
_WHOLE_RE = re.compile(r"\s*\$\{([^}]*)\}\s*")


def subst(value: Any, where: Where, env: dict[str, Any], report: Report) -> Any:
    """Replace ${name} in every string; a whole-string ${name} keeps the value's type."""
    if isinstance(value, str):
        return _subst_text(value, where, env, report)
    if isinstance(value, list):
        items = [subst(v, where.at(i), env, report) for i, v in enumerate(value)]
        return BAD if any(v is BAD for v in items) else items
    if isinstance(value, dict):
        out = {k: subst(v, where.at(k), env, report) for k, v in value.items()}
        return BAD if any(v is BAD for v in out.values()) else out
    return value


def _subst_text(value: str, where: Where, env: dict[str, Any], report: Report) -> Any:
    if "${" not in value:
        return value
    whole = _WHOLE_RE.fullmatch(value)
    if whole:
        name = whole.group(1).strip()
        if name not in env:
            _unknown(name, where, env, report)
            return BAD
        return env[name]
    bad = False

    def repl(m: re.Match[str]) -> str:
        nonlocal bad
        name = m.group(1).strip()
        if name not in env:
            _unknown(name, where, env, report)
            bad = True
            return ""
        v = env[name]
        if isinstance(v, list | dict):
            report.fail(where, f"the parameter '{name}' is a list and cannot sit inside text")
            bad = True
            return ""
        return str(v)

    out = _PARAM_RE.sub(repl, value)
    return BAD if bad else out


def _unknown(name: str, where: Where, env: dict[str, Any], report: Report) -> None:
    known = ", ".join(sorted(env)) or "none"
    report.fail(where, f"unknown parameter '${{{name}}}'; defined parameters: {known}")
