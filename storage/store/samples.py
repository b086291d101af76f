"""What a run measured: its samples, stored as column chunks (see README), and its spectra."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlmodel import col, select

from storage.chunks import ChunkFormatError, decode_chunk
from storage.columns import INTEGER_FILL, SAMPLE_COLUMNS, empty_samples
from storage.engine import translate_errors
from storage.errors import StorageError
from storage.models import MeasurementChunk, Run, Spectrum, table_of
from storage.store.base import StoreBase, json_or_none, jsonable
from storage.writer import DEFAULT_CHUNK_ROWS, SampleWriter

_CHUNKS = table_of(MeasurementChunk)


class SampleStore(StoreBase):
    """Batched sample writers, whole-run and last-sample reads, and impedance spectra."""

    # -- samples --------------------------------------------------------------------------
    def open_writer(
        self, run_id: int, *, flush_interval_s: float = 0.5, chunk_rows: int | None = None
    ) -> SampleWriter:
        """A batched writer for a run's samples; it continues record numbering after a restart."""
        with self.session() as s:
            self._fetch(s, Run, run_id, "run")
            seq, last = s.exec(
                select(
                    sa.func.max(MeasurementChunk.seq), sa.func.max(MeasurementChunk.last_record)
                ).where(MeasurementChunk.run_id == run_id)
            ).one()
        return SampleWriter(
            self.engine,
            self.name,
            run_id,
            next_seq=0 if seq is None else seq + 1,
            next_record=1 if last is None else last + 1,
            flush_interval_s=flush_interval_s,
            chunk_rows=chunk_rows or DEFAULT_CHUNK_ROWS,
        )

    def write_samples(self, run_id: int, columns: dict[str, Any]) -> int:
        """Write samples synchronously (imports, tests); returns rows committed."""
        writer = self.open_writer(run_id)
        try:
            writer.append(columns)
        finally:
            rows = writer.close()
        return rows

    def sample_count(self, run_id: int) -> int:
        """Rows stored for a run, without decoding them."""
        with self.session() as s:
            total = s.exec(
                select(sa.func.sum(MeasurementChunk.n_rows)).where(
                    MeasurementChunk.run_id == run_id
                )
            ).one()
        return int(total or 0)

    def last_sample(self, run_id: int) -> dict[str, float | int] | None:
        """The newest stored sample of a run (decoding only its last chunk), or None."""
        query = (
            sa.select(_CHUNKS.c.payload)
            .where(_CHUNKS.c.run_id == run_id)
            .order_by(_CHUNKS.c.last_record.desc(), _CHUNKS.c.seq.desc())
            .limit(1)
        )
        parts = self._decoded_chunks(run_id, query)
        if not parts or not len(parts[0]["record_index"]):
            return None
        part = parts[0]
        last = int(np.argmax(part["record_index"]))
        return {key: part[key][last].item() for key in SAMPLE_COLUMNS if key in part}

    def read_samples(
        self, run_id: int, columns: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Every sample column of a run (or the ones asked for), ordered by record_index."""
        keys = list(SAMPLE_COLUMNS) if columns is None else list(columns)
        unknown = [k for k in keys if k not in SAMPLE_COLUMNS]
        if unknown:
            raise StorageError(f"Unknown sample column {unknown[0]!r} for run {run_id}.")
        query = sa.select(_CHUNKS.c.payload).where(_CHUNKS.c.run_id == run_id)
        parts = self._decoded_chunks(run_id, query.order_by(_CHUNKS.c.seq))
        if not parts:
            empty = empty_samples()
            return {k: empty[k] for k in keys}
        out = {}
        for key in dict.fromkeys([*keys, "record_index"]):
            dtype = SAMPLE_COLUMNS[key][1]
            fill = INTEGER_FILL if dtype.kind == "i" else np.nan
            arrays = [
                p[key] if key in p else np.full(len(p["record_index"]), fill, dtype) for p in parts
            ]
            out[key] = (arrays[0] if len(arrays) == 1 else np.concatenate(arrays)).astype(
                dtype, copy=False
            )
        rec = out["record_index"]
        if len(rec) > 1 and bool((np.diff(rec) < 0).any()):
            order = np.argsort(rec, kind="stable")
            out = {k: v[order] for k, v in out.items()}
        return {k: out[k] for k in keys}

    def _decoded_chunks(self, run_id: int, query: Any) -> list[dict[str, np.ndarray]]:
        """The chunk payloads `query` selects, decoded; a damaged chunk is a StorageError."""
        with translate_errors(self.name), self.engine.connect() as conn:
            blobs = conn.execute(query).scalars().all()
        try:
            return [decode_chunk(b) for b in blobs]
        except ChunkFormatError as exc:
            raise StorageError(f"Run {run_id} in database {self.name}: {exc}.") from None

    # -- spectra --------------------------------------------------------------------------
    def add_spectrum(
        self,
        run_id: int,
        *,
        step_count: int,
        frequency_Hz: Sequence[float] | np.ndarray,
        z_real_ohm: Sequence[float] | np.ndarray,
        z_imag_ohm: Sequence[float] | np.ndarray,
        temperature_degC: float | None = None,
        data: dict | None = None,
    ) -> int:
        """Store one spectrum; Z'' is negative for capacitive behaviour (BDF convention)."""
        f, zr, zi = (
            np.asarray(a, dtype=float).ravel() for a in (frequency_Hz, z_real_ohm, z_imag_ohm)
        )
        if not len(f) == len(zr) == len(zi):
            raise StorageError(
                f"Spectrum for run {run_id} has {len(f)} frequencies but {len(zr)} real and "
                f"{len(zi)} imaginary values."
            )
        self._get(Run, run_id, "run")
        temp = None if temperature_degC is None else float(temperature_degC)
        return self._add(
            Spectrum(
                run_id=run_id,
                step_count=step_count,
                n_points=len(f),
                frequency_Hz=jsonable(f),
                z_real_ohm=jsonable(zr),
                z_imag_ohm=jsonable(zi),
                temperature_degC=temp if temp is None or math.isfinite(temp) else None,
                data=json_or_none(data),
                created_at=time.time(),
            )
        )

    def spectra(self, run_id: int) -> list[Spectrum]:
        """A run's spectra in the order they were measured."""
        return self._all(
            select(Spectrum).where(Spectrum.run_id == run_id).order_by(col(Spectrum.id))
        )
