"""Protocol texts that tests in more than one folder run (tests/ is on sys.path through its
conftest, so any test imports this module by name)."""

from __future__ import annotations

_CHARGE_THEN_REST = """
name: {name}
c_rate_basis: 200 mA/g
safety: {{voltage_min: 2.5 V, voltage_max: 4.4 V, abs_current_max: 1C}}
steps:
  - cc: {{rate: 0.5C, direction: charge, until: [{{voltage: ">= 4.3 V"}}], record: {{dt: 10 s}}}}
  - rest: {{duration: 10 min, record: {{dt: 60 s}}}}
"""
_DISCHARGE = """\
  - cc: {rate: 0.5C, direction: discharge, until: [{voltage: "<= 3.0 V"}], record: {dt: 10 s}}
"""


def charge_then_rest(name: str, *, then_discharge: bool = False) -> str:
    """A 0.5C charge to 4.3 V (about 2 h on a 200 mA/g cell, long enough to interrupt) and a
    10 min rest; `then_discharge` adds a 0.5C discharge to 3.0 V."""
    text = _CHARGE_THEN_REST.format(name=name)
    return text + _DISCHARGE if then_discharge else text
