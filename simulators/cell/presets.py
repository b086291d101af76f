"""Cell presets: YAML data files, one per paper cell, plus user files given by path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from simulators.cell.params import CellParameters, parameters_from_mapping
from simulators.errors import SimulatorError

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"


def list_presets() -> list[str]:
    """Names of the bundled presets, sorted."""
    return sorted(path.stem for path in PRESET_DIR.glob("*.yaml"))


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


def load_preset(name_or_path: str | Path) -> CellParameters:
    """Load and validate a preset by bundled name or by file path."""
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
    return parameters_from_mapping(data, source=f"cell preset {str(path)!r}")
