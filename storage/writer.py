"""Batched sample ingest: the caller appends to memory, a background thread commits chunks.

`append` never touches the database, so the asyncio runner can call it from the event loop. A
thread flushes at least every `flush_interval_s` (default 0.5 s), so a crash loses at most the
last interval; `acknowledged` counts the rows whose commit has returned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.chunks import encode_chunk
from storage.columns import INTEGER_COLUMNS, INTEGER_FILL, SAMPLE_COLUMNS
from storage.engine import WRITE_OPTION, translate_errors
from storage.errors import StorageError
from storage.models import MeasurementChunk, table_of

MAX_FLUSH_INTERVAL_S = 1.0
DEFAULT_CHUNK_ROWS = 250_000
_CHUNKS = table_of(MeasurementChunk)


def _as_column(key: str, values: Any, n: int | None) -> np.ndarray:
    dtype = SAMPLE_COLUMNS[key][1]
    arr = np.asarray(values)
    if arr.ndim > 1:
        raise StorageError(f"Sample column {key} must be one-dimensional, not shape {arr.shape}.")
    if key in INTEGER_COLUMNS and arr.dtype.kind == "f":
        arr = np.where(np.isfinite(arr), arr, INTEGER_FILL)
    try:
        out = np.array(arr, dtype=dtype)  # always a copy: the caller may reuse its buffer
    except (TypeError, ValueError):
        raise StorageError(f"Sample column {key} holds values that are not numbers.") from None
    if out.ndim == 0 and n is not None:
        out = np.full(n, out, dtype=dtype)
    return out


class SampleWriter:
    """Buffers samples for one run and commits them as column chunks from a background thread."""

    def __init__(
        self,
        engine: Engine,
        db_name: str,
        run_id: int,
        *,
        next_seq: int,
        next_record: int,
        flush_interval_s: float = 0.5,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 < flush_interval_s <= MAX_FLUSH_INTERVAL_S:
            raise StorageError(
                f"Flush interval {flush_interval_s} s for database {db_name} must be in (0, 1] s."
            )
        self.run_id = run_id
        self._engine = engine.execution_options(**{WRITE_OPTION: True})
        self._db_name = db_name
        self._interval = flush_interval_s
        self._chunk_rows = chunk_rows
        self._clock = clock
        self._next_seq = next_seq
        self._next_record = next_record
        self._lock = threading.Lock()  # guards the buffer and counters
        self._io_lock = threading.Lock()  # one flush at a time
        self._pending: list[dict[str, np.ndarray]] = []
        self._pending_rows = 0
        self._acknowledged = 0
        self._error: str | None = None
        self._closing = False
        self._closed = False
        self._wake = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"cellbench-ingest-run{run_id}", daemon=True
        )
        self._thread.start()

    # -- caller side (no I/O) -------------------------------------------------------------
    @property
    def acknowledged(self) -> int:
        """Rows of this writer durably committed so far."""
        return self._acknowledged

    @property
    def pending(self) -> int:
        """Rows appended but not yet committed."""
        return self._pending_rows

    @property
    def error(self) -> str | None:
        """The last flush failure, until a flush succeeds again."""
        return self._error

    def append(self, columns: Mapping[str, np.ndarray | Sequence[float] | float]) -> int:
        """Buffer a batch of samples (equal-length columns; scalars broadcast); returns its rows.

        Unknown keys are refused; missing columns are NaN (counters 0); record_index, when not
        given, continues the run's numbering.
        """
        if self._closed or self._closing:
            raise StorageError(f"Sample writer for run {self.run_id} in {self._db_name} is closed.")
        if self._error is not None:
            raise StorageError(self._error)
        unknown = [k for k in columns if k not in SAMPLE_COLUMNS]
        if unknown:
            raise StorageError(
                f"Unknown sample column {unknown[0]!r} for run {self.run_id}; "
                f"expected one of {', '.join(SAMPLE_COLUMNS)}."
            )
        lengths = {np.size(v) for v in columns.values() if np.ndim(v) > 0}
        if len(lengths) > 1:
            raise StorageError(
                f"Sample columns for run {self.run_id} have different lengths {sorted(lengths)}."
            )
        n = lengths.pop() if lengths else 1
        if n == 0:
            return 0
        batch = {key: _as_column(key, values, n) for key, values in columns.items()}
        with self._lock:
            if "record_index" in batch:
                self._next_record = max(self._next_record, int(batch["record_index"].max()) + 1)
            else:
                start = self._next_record
                batch["record_index"] = np.arange(start, start + n, dtype=np.int64)
                self._next_record = start + n
            self._pending.append(batch)
            self._pending_rows += n
            big = self._pending_rows >= self._chunk_rows
        if big:
            self._wake.set()
        return n

    def append_row(self, **values: float) -> int:
        """Buffer one sample given as keyword arguments."""
        return self.append({k: [v] for k, v in values.items()})

    # -- flushing -------------------------------------------------------------------------
    def flush(self) -> int:
        """Commit everything buffered now (blocking); returns rows committed so far."""
        self._flush_once()
        if self._error is not None:
            raise StorageError(self._error)
        return self._acknowledged

    def close(self) -> int:
        """Flush, stop the thread and refuse further appends; returns rows committed."""
        if self._closed:
            return self._acknowledged
        self._closing = True
        self._wake.set()
        self._thread.join()
        self._closed = True
        self._flush_once()
        if self._pending_rows:
            raise StorageError(
                f"{self._error or 'Database ' + self._db_name + ' refused the last samples.'} "
                f"({self._pending_rows} samples of run {self.run_id} were not saved)"
            )
        return self._acknowledged

    def __enter__(self) -> SampleWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _loop(self) -> None:
        while not self._closing:
            self._wake.wait(self._interval)
            self._wake.clear()
            self._flush_once()
        self._flush_once()

    def _take(self) -> tuple[list[dict[str, np.ndarray]], int]:
        with self._lock:
            batches, rows = self._pending, self._pending_rows
            self._pending, self._pending_rows = [], 0
        return batches, rows

    def _flush_once(self) -> None:
        with self._io_lock:
            batches, rows = self._take()
            if not rows:
                return
            try:
                records = self._build(batches)
                with translate_errors(self._db_name), self._engine.begin() as conn:
                    conn.execute(sa.insert(_CHUNKS), records)
            except StorageError as exc:
                with self._lock:  # keep the samples, in order, for the next attempt
                    self._pending = batches + self._pending
                    self._pending_rows += rows
                self._error = str(exc)
                return
            self._next_seq += len(records)
            self._acknowledged += rows
            self._error = None

    def _build(self, batches: list[dict[str, np.ndarray]]) -> list[dict[str, Any]]:
        """Fill missing columns, concatenate, and cut into chunks of at most `chunk_rows`."""
        sizes = [len(b["record_index"]) for b in batches]
        total = sum(sizes)
        columns: dict[str, np.ndarray] = {}
        for key, (_, dtype) in SAMPLE_COLUMNS.items():
            fill = INTEGER_FILL if dtype.kind == "i" else np.nan
            parts = [
                b[key] if key in b else np.full(m, fill, dtype)
                for b, m in zip(batches, sizes, strict=True)
            ]
            columns[key] = parts[0] if len(parts) == 1 else np.concatenate(parts)
        now = self._clock()
        records = []
        for i, start in enumerate(range(0, total, self._chunk_rows)):
            part = {k: v[start : start + self._chunk_rows] for k, v in columns.items()}
            rec, t, sc = part["record_index"], part["test_time_s"], part["step_count"]
            records.append(
                {
                    "run_id": self.run_id,
                    "seq": self._next_seq + i,
                    "n_rows": len(rec),
                    "first_record": int(rec[0]),
                    "last_record": int(rec[-1]),
                    "t_first_s": float(t[0]) if np.isfinite(t[0]) else None,
                    "t_last_s": float(t[-1]) if np.isfinite(t[-1]) else None,
                    "step_count_first": int(sc[0]),
                    "step_count_last": int(sc[-1]),
                    "payload": encode_chunk(part),
                    "written_at": now,
                }
            )
        return records
