"""Cell presets: YAML data files, one per paper cell, plus user files given by path.

A preset's `kind:` names its cell model: absent (or `ncm-half-cell`) for the Li | NCM811 half
cell, `blocking`, `li-blocking` or `symmetric-li` for the electrolyte-only cells.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from simulators.cell.electrolyte_params import ElectrolyteParameters, electrolyte_from_mapping
from simulators.cell.params import CellParameters, parameters_from_mapping
from simulators.errors import SimulatorError

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"


def list_presets(kind: str | None = None) -> list[str]:
    """Names of the bundled presets, sorted; only those of one kind when `kind` is given."""
    names = sorted(path.stem for path in PRESET_DIR.glob("*.yaml"))
    if kind is None:
        return names
    return [name for name in names if _kind_of(PRESET_DIR / f"{name}.yaml") == kind]


def _kind_of(path: Path) -> str:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return ""
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else "ncm-half-cell"


def preset_path(name_or_path: str | Path) -> Path:
    """Resolve a bundled preset name or a user file path to an existing file."""
    text = str(name_or_path)
    candidate = Path(text).expanduser()
    looks_like_path = candidate.suffix in {".yaml", ".yml"} or "/" in text or "\\" in text
    if looks_like_path:
        if not candidate.is_file():
            raise SimulatorError(f"cell preset file {text!r} does not exist.")
        return candidate
    bundled = PRESET_DIR / f"{text}.yaml"
    if bundled.is_file():
        return bundled
    if candidate.is_file():
        return candidate
    raise SimulatorError(
        f"unknown cell preset {text!r}; bundled presets are: {', '.join(list_presets())} "
        "(or give the path of a .yaml file)."
    )


def load_preset(name_or_path: str | Path) -> CellParameters | ElectrolyteParameters:
    """Load and validate a preset by bundled name or by file path, into its kind's model."""
    path = preset_path(name_or_path)
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SimulatorError(f"cell preset {str(path)!r} is not valid YAML{where}.") from None
    except OSError as exc:
        raise SimulatorError(f"cannot read cell preset {str(path)!r}: {exc.strerror}.") from None
    if not isinstance(data, dict):
        raise SimulatorError(
            f"cell preset {str(path)!r} must be a mapping of parameter names to values."
        )
    data.setdefault("name", path.stem)
    source = f"cell preset {str(path)!r}"
    if data.get("kind", "ncm-half-cell") == "ncm-half-cell":
        data.pop("kind", None)
        return parameters_from_mapping(data, source=source)
    return electrolyte_from_mapping(data, source=source)
