"""The sample columns every run stores, with their Battery Data Format labels and dtypes.

The internal keys are what the runner appends; the BDF preferred labels ("Quantity / unit") are what
exports write. Current is positive on charge, as in BDF. Integer counters are int64; everything
else is float64 with NaN for "not measured".
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

SAMPLE_COLUMNS: MappingProxyType[str, tuple[str, np.dtype]] = MappingProxyType(
    {
        "test_time_s": ("Test Time / s", np.dtype("float64")),
        "unix_time_s": ("Unix Time / s", np.dtype("float64")),
        "voltage_V": ("Voltage / V", np.dtype("float64")),
        "current_A": ("Current / A", np.dtype("float64")),
        "cycle": ("Cycle Count / 1", np.dtype("int64")),
        "step_count": ("Step Count / 1", np.dtype("int64")),
        "step_index": ("Step Index / 1", np.dtype("int64")),
        "step_time_s": ("Step Time / s", np.dtype("float64")),
        "record_index": ("Record Index / 1", np.dtype("int64")),
        "charge_capacity_Ah": ("Charging Capacity / Ah", np.dtype("float64")),
        "discharge_capacity_Ah": ("Discharging Capacity / Ah", np.dtype("float64")),
        "charge_energy_Wh": ("Charging Energy / Wh", np.dtype("float64")),
        "discharge_energy_Wh": ("Discharging Energy / Wh", np.dtype("float64")),
        "temperature_degC": ("Ambient Temperature / degC", np.dtype("float64")),
        "pressure_Pa": ("Applied Pressure / Pa", np.dtype("float64")),
    }
)
"""Ordered mapping: internal key -> (BDF label, dtype)."""

INTEGER_COLUMNS: frozenset[str] = frozenset(
    key for key, (_, dtype) in SAMPLE_COLUMNS.items() if dtype.kind == "i"
)

BDF_LABELS: dict[str, str] = {key: label for key, (label, _) in SAMPLE_COLUMNS.items()}
"""Internal key -> BDF label."""

KEYS_BY_LABEL: dict[str, str] = {label: key for key, label in BDF_LABELS.items()}
"""BDF label -> internal key."""

# Counters have no NaN; a missing counter is 0 (record_index is numbered by the writer instead).
INTEGER_FILL = 0


def empty_samples() -> dict[str, np.ndarray]:
    """Every column, zero rows: what a run with no samples reads back as."""
    return {key: np.empty(0, dtype=dtype) for key, (_, dtype) in SAMPLE_COLUMNS.items()}


# File formats `export_run` writes.
EXPORT_FORMATS = ("bdf-csv", "parquet")
