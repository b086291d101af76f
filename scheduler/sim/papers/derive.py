"""Short derivatives of library protocols, built from the library file's own parameters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml


def gitt_at_mid_soc(
    n_pulses: int = 12, precharge: str = "5 h", log: str | None = None
) -> Callable[[Path], str]:
    """The library GITT's formation cycle and pulse parameters, but a short charge train at
    mid SOC: a 0.1C charge for `precharge` (≈ half of the capacity), a rest to equilibrium,
    then `n_pulses` pulses — the part of the window where ΔEs is resolvable and dE/dx smooth.
    `log` replaces the train's logging interval (for long, slow-material pulses)."""

    def build(path: Path) -> str:
        source = yaml.safe_load(path.read_text(encoding="utf-8"))
        steps = source["steps"]
        formation = [s for s in steps if "pulse_train" not in s and "advance_cycle" not in s]
        formation = formation[:4]  # OCV rest, 0.1C charge, rest, 0.1C discharge
        train = next(s for s in steps if "pulse_train" in s)
        relax = next(s for s in steps if "rest" in s and s["rest"].get("cycle_type") == "gitt")
        if log is not None:
            train = {"pulse_train": {**train["pulse_train"], "record": {"dt": log}}}
        data = {
            "name": f"{source['name']}-mid-soc",
            "description": (
                f"{source['name']} at mid SOC: formation, 0.1C charge for ${{precharge}}, rest, "
                "then a short charge pulse train."
            ),
            "parameters": {
                **source["parameters"],
                "n_pulses": n_pulses,
                "precharge": precharge,
            },
            "c_rate_basis": source["c_rate_basis"],
            "record": source["record"],
            "safety": source["safety"],
            "analyses": source["analyses"],
            "metadata": {**source.get("metadata", {}), "derived_from": str(path.name)},
            "steps": [
                *formation,
                {"advance_cycle": {}},
                {
                    "cc": {
                        "rate": "0.1C",
                        "direction": "charge",
                        "label": "charge to mid SOC",
                        "cycle_type": "gitt",
                        "until": [{"step_time": ">= ${precharge}"}, "voltage >= ${v_max}"],
                    }
                },
                relax,
                train,
            ],
        }
        header = (
            f"# Derived from protocols/library/{path.parent.name}/{path.name}: the same formation\n"
            "# and pulse parameters; a 0.1C charge to mid SOC, then a short charge train.\n"
        )
        return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    return build
