"""Input checks shared by the analyses: columns as float arrays, or one clear sentence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any, Literal, overload

import numpy as np

from protocols.analysis.errors import AnalysisError


@overload
def float_column(
    samples: Mapping[str, Any], key: str, technique: str, *, required: Literal[True] = True
) -> np.ndarray: ...
@overload
def float_column(
    samples: Mapping[str, Any], key: str, technique: str, *, required: bool
) -> np.ndarray | None: ...
def float_column(
    samples: Mapping[str, Any], key: str, technique: str, *, required: bool = True
) -> np.ndarray | None:
    """samples[key] as a 1-D float array; a missing required column is an AnalysisError."""
    try:
        raw = samples[key]
    except (KeyError, TypeError, IndexError):
        if not required:
            return None
        raise AnalysisError(
            technique, f"samples[{key!r}]", f"the sample column {key!r} is missing."
        ) from None
    return as_float_array(raw, f"samples[{key!r}]", technique)


def as_float_array(values: Any, where: str, technique: str) -> np.ndarray:
    """A 1-D float array, or an AnalysisError saying the values are not numbers."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise AnalysisError(technique, where, "the values are not numbers.") from None
    if array.ndim != 1:
        raise AnalysisError(technique, where, f"expected a 1-D sequence, got shape {array.shape}.")
    return array


def same_length(arrays: Sequence[tuple[str, np.ndarray]], technique: str) -> int:
    """The common length of named arrays, or an AnalysisError naming the mismatch."""
    lengths = {name: len(a) for name, a in arrays}
    first_name, first = next(iter(lengths.items()))
    for name, n in lengths.items():
        if n != first:
            raise AnalysisError(
                technique, name, f"has {n} values but {first_name} has {first}; they must match."
            )
    return first


def finite(array: np.ndarray, where: str, technique: str) -> np.ndarray:
    """The array itself, or an AnalysisError if it holds NaN or infinity."""
    if not np.all(np.isfinite(array)):
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise AnalysisError(technique, where, f"value {bad} is not a finite number.")
    return array


class Result:
    """Base of the analysis result dataclasses: `as_dict()` gives the result as plain data."""

    def as_dict(self) -> dict[str, Any]:
        return result_dict(self)


def result_dict(result: Any) -> dict[str, Any]:
    """A result dataclass as plain data, field by field: tuples become lists, and the results
    they hold their own as_dict()."""
    return {f.name: _plain(getattr(result, f.name)) for f in fields(result)}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [v.as_dict() if hasattr(v, "as_dict") else v for v in value]
    return value
