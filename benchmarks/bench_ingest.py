"""Sustained sample ingest: cellbench's chunked writer against baselines, in the same run.

For each engine (SQLite file; PostgreSQL when reachable) it measures points per second for:
- cellbench: `Store.open_writer().append()` in batches as a potentiostat stream delivers them,
  timed until `close()` has committed everything;
- naive: one INSERT and one COMMIT per point into a plain row table (the baseline, ratio 1.0);
- executemany: plain row table, 10k-row transactions (a tuned row-per-point layout);
- QCoDeS DataSaver writing the same points to its own SQLite (skipped if qcodes is absent).
A point is one sample row of 11 quantities (times, V, I, counters, capacities). Medians of
`--repeats` runs are reported as ratios to the naive baseline.

    .venv/bin/python benchmarks/bench_ingest.py [--points 1000000] [--repeats 5] [--no-postgres]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage import open_store

ROW_KEYS = (
    "test_time_s",
    "unix_time_s",
    "voltage_V",
    "current_A",
    "cycle",
    "step_count",
    "step_index",
    "step_time_s",
    "charge_capacity_Ah",
    "discharge_capacity_Ah",
    "record_index",
)
PG = dict(host="127.0.0.1", port=5432, user="postgres")


def make_points(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A 1 kHz CC stream with noise: realistic entropy for the compressor."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) * 1e-3
    i = np.where((t // 600) % 2 == 0, 1e-3, -1e-3) + rng.normal(0, 1e-7, n)
    step = (t // 600).astype(np.int64) + 1
    return {
        "test_time_s": t,
        "unix_time_s": 1.75e9 + t,
        "voltage_V": 3.7 + 0.3 * np.sin(t / 300) + rng.normal(0, 2e-4, n),
        "current_A": i,
        "cycle": (step + 1) // 2,
        "step_count": step,
        "step_index": (step + 1) % 2,
        "step_time_s": t - (step - 1) * 600,
        "charge_capacity_Ah": np.cumsum(np.clip(i, 0, None)) * 1e-3 / 3600,
        "discharge_capacity_Ah": np.cumsum(np.clip(-i, 0, None)) * 1e-3 / 3600,
        "record_index": np.arange(1, n + 1),
    }


READS: dict[str, list[float]] = {}


def bench_cellbench(url: str, pts: dict[str, np.ndarray], batch: int) -> float:
    """Ingest rate; also records the rate of reading the run back (`read_samples`)."""
    store = open_store(url)
    run_id = store.start_run(cell_id=None, protocol_id=None, slot="bench")
    n = len(pts["test_time_s"])
    writer = store.open_writer(run_id)
    start = time.perf_counter()
    for lo in range(0, n, batch):
        writer.append({k: v[lo : lo + batch] for k, v in pts.items()})
    rows = writer.close()
    elapsed = time.perf_counter() - start
    assert rows == n and store.sample_count(run_id) == n
    start = time.perf_counter()
    back = store.read_samples(run_id)
    READS.setdefault(store.dialect, []).append(n / (time.perf_counter() - start))
    assert np.array_equal(back["voltage_V"], pts["voltage_V"])
    store.close()
    return n / elapsed


def _row_table_sql(dialect: str) -> str:
    pk = "INTEGER PRIMARY KEY" if dialect == "sqlite" else "BIGSERIAL PRIMARY KEY"
    ints = {"cycle", "step_count", "step_index", "record_index"}
    cols = ", ".join(f"{k} {'BIGINT' if k in ints else 'DOUBLE PRECISION'}" for k in ROW_KEYS)
    return f"CREATE TABLE IF NOT EXISTS samples_rows (id {pk}, run_id INTEGER, {cols})"


def _rows(pts: dict[str, np.ndarray], n: int) -> list[tuple]:
    cols = [pts[k][:n].tolist() for k in ROW_KEYS]
    return [(1, *r) for r in zip(*cols, strict=True)]


def _connect(target: str) -> tuple[object, str, str]:
    if target.startswith("sqlite:"):
        conn = sqlite3.connect(target.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # the same durability cellbench uses
        return conn, "sqlite", "?"
    import psycopg

    return psycopg.connect(target), "postgresql", "%s"


def bench_rows(target: str, pts: dict[str, np.ndarray], n: int, per_commit: int) -> float:
    """Row-per-point table; `per_commit` rows per transaction (1 = the naive baseline)."""
    conn, dialect, mark = _connect(target)
    cur = conn.cursor()
    cur.execute(_row_table_sql(dialect))
    if dialect == "postgresql":
        conn.commit()
    sql = (
        f"INSERT INTO samples_rows (run_id, {', '.join(ROW_KEYS)}) "
        f"VALUES ({', '.join([mark] * (len(ROW_KEYS) + 1))})"
    )
    rows = _rows(pts, n)
    start = time.perf_counter()
    for lo in range(0, n, per_commit):
        if dialect == "sqlite":
            cur.execute("BEGIN")
        if per_commit == 1:
            cur.execute(sql, rows[lo])
        else:
            cur.executemany(sql, rows[lo : lo + per_commit])
        conn.commit() if dialect == "postgresql" else cur.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


def bench_qcodes(folder: Path, pts: dict[str, np.ndarray], n: int) -> float | None:
    """QCoDeS Measurement/DataSaver, one add_result per point, into its own SQLite file."""
    try:
        import qcodes as qc
        from qcodes.dataset import (
            Measurement,
            initialise_or_create_database_at,
            load_or_create_experiment,
        )
        from qcodes.parameters import ManualParameter
    except ImportError:
        return None
    db = folder / f"qcodes_{uuid.uuid4().hex[:6]}.db"
    initialise_or_create_database_at(str(db))
    exp = load_or_create_experiment("ingest", sample_name="cell")
    params = {k: ManualParameter(k) for k in ROW_KEYS}
    meas = Measurement(exp=exp)
    meas.write_period = 1.0
    meas.register_parameter(params["test_time_s"])
    for k in ROW_KEYS[1:]:
        meas.register_parameter(params[k], setpoints=(params["test_time_s"],))
    cols = [pts[k][:n].tolist() for k in ROW_KEYS]
    start = time.perf_counter()
    with meas.run() as saver:
        for row in zip(*cols, strict=True):
            saver.add_result(*((params[k], v) for k, v in zip(ROW_KEYS, row, strict=True)))
    elapsed = time.perf_counter() - start
    del qc
    return n / elapsed


def _pg_database() -> tuple[str, Callable[[], None]] | None:
    try:
        import psycopg

        admin = psycopg.connect(**PG, dbname="postgres", autocommit=True, connect_timeout=3)
    except Exception as exc:
        print(f"PostgreSQL: skipped ({str(exc).strip().splitlines()[0]})")
        return None
    name = f"cellbench_bench_{os.getpid()}"
    admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{name}", drop


def _median(fn: Callable[[], float | None], repeats: int) -> float | None:
    values = [fn() for _ in range(repeats)]
    if any(v is None for v in values):
        return None
    return statistics.median(values)  # type: ignore[arg-type]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=1_000_000, help="points per cellbench repeat")
    ap.add_argument("--naive-points", type=int, default=3_000, help="points per naive repeat")
    ap.add_argument("--qcodes-points", type=int, default=10_000, help="points per QCoDeS repeat")
    ap.add_argument("--batch", type=int, default=1_000, help="rows per append")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    pts = make_points(args.points)
    print(
        f"points/s, median of {args.repeats}; a point = one row of {len(ROW_KEYS)} quantities; "
        f"appends of {args.batch} rows"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engines: list[tuple[str, Callable[[str], str]]] = [
            ("SQLite", lambda tag: f"sqlite:///{folder / f'{tag}_{uuid.uuid4().hex[:6]}.db'}")
        ]
        pg = None if args.no_postgres else _pg_database()
        if pg is not None:
            engines.append(("PostgreSQL", lambda tag: pg[0]))
        results = []
        try:
            for label, url_for in engines:
                naive = _median(
                    lambda u=url_for: bench_rows(u("naive"), pts, args.naive_points, 1),
                    args.repeats,
                )
                many = _median(
                    lambda u=url_for: bench_rows(u("many"), pts, args.points // 4, 10_000),
                    args.repeats,
                )
                ours = _median(
                    lambda u=url_for: bench_cellbench(u("cb"), pts, args.batch), args.repeats
                )
                results.append((label, "naive row per commit (baseline)", naive))
                results.append((label, "rows, executemany 10k per transaction", many))
                results.append((label, "cellbench column chunks", ours))
            qc_rate = _median(lambda: bench_qcodes(folder, pts, args.qcodes_points), args.repeats)
        finally:
            if pg is not None:
                pg[1]()
    print(f"{'engine':11} {'method':42} {'points/s':>12} {'x baseline':>11}")
    base = {}
    for label, method, rate in results:
        base.setdefault(label, rate)
        print(f"{label:11} {method:42} {rate:12,.0f} {rate / base[label]:11.1f}")
    for dialect, rates in READS.items():
        label = "SQLite" if dialect == "sqlite" else "PostgreSQL"
        rate = statistics.median(rates)
        print(f"{label:11} {'cellbench read_samples (read back)':42} {rate:12,.0f}")
    if qc_rate is None:
        print("QCoDeS: skipped (qcodes is not installed; `pip install qcodes` to compare)")
    else:
        ratio = qc_rate / base["SQLite"]
        print(f"{'SQLite':11} {'QCoDeS DataSaver, own SQLite':42} {qc_rate:12,.0f} {ratio:11.1f}")


if __name__ == "__main__":
    main()
