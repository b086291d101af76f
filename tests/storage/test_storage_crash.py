"""A writer killed with SIGKILL loses at most its last second, and the database stays sound."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from storage import open_store

CHILD = Path(__file__).with_name("writer_child.py")
ROOT = Path(__file__).resolve().parents[2]
RATE = 20_000.0  # samples per second, a fast potentiostat stream
BATCH = 500


def _run_and_kill(url: str, kill_after_s: float) -> tuple[int, int, int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), url, str(RATE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        first = proc.stdout.readline().split()
        assert first[:1] == ["ready"], proc.stderr.read()
        run_id = int(first[1])
        deadline = time.monotonic() + kill_after_s
        last = (0, 0)
        while time.monotonic() < deadline:
            parts = proc.stdout.readline().split()
            if parts[:1] == ["A"]:
                last = (int(parts[1]), int(parts[2]))
        os.kill(proc.pid, signal.SIGKILL)
        for line in proc.stdout:  # whatever it printed before dying
            parts = line.split()
            if parts[:1] == ["A"]:
                last = (int(parts[1]), int(parts[2]))
    finally:
        proc.kill()
        proc.wait()
    appended, acknowledged = last
    return run_id, appended, acknowledged


@pytest.mark.slow
def test_sigkill_mid_ingest_loses_at_most_the_last_second(db_url: str) -> None:
    run_id, appended, acknowledged = _run_and_kill(db_url, kill_after_s=2.3)
    assert acknowledged > 0.5 * RATE  # it really was committing while it ran
    with open_store(db_url) as store:
        if store.dialect == "sqlite":
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        stored = store.sample_count(run_id)
        # Everything acknowledged is there and at most ~1 s is missing.
        assert stored >= acknowledged
        assert appended - stored <= RATE * 1.0
        assert stored % BATCH == 0  # whole appends only: no torn batch
        data = store.read_samples(run_id)
        np.testing.assert_array_equal(data["record_index"], np.arange(1, stored + 1))
        np.testing.assert_allclose(data["test_time_s"], (data["record_index"] - 1) * 0.001)
        # The run can carry on after the crash.
        store.set_run_status(run_id, "interrupted", "writer was killed")
        with store.open_writer(run_id) as writer:
            writer.append({"voltage_V": [3.5, 3.5]})
        assert store.read_samples(run_id, ["record_index"])["record_index"][-1] == stored + 2
        with store.engine.connect() as conn:
            chunks = conn.execute(
                sa.text("SELECT count(*) FROM measurement_chunks WHERE run_id = :r"), {"r": run_id}
            ).scalar()
        assert chunks >= 2  # flushed at least every second, not once at the end
