"""A full disk and a read-only database give one clear StorageError and leave the data sound."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from storage import StorageError, Store, open_store


def _one_sentence(exc: StorageError, name: str) -> str:
    text = str(exc)
    assert name in text
    assert "\n" not in text and text.endswith(".")
    assert text.count(". ") == 0  # one sentence
    return text


def _fill_until_full(store: Store, run_id: int) -> tuple[int, StorageError]:
    """Write noisy (incompressible) samples until the database refuses; returns rows kept."""
    rng = np.random.default_rng(1)
    writer = store.open_writer(run_id)
    for _ in range(400):
        writer.append({"voltage_V": rng.normal(3.7, 0.1, 20_000)})
        try:
            writer.flush()
        except StorageError as exc:
            kept = writer.acknowledged
            assert writer.pending > 0  # the refused samples are still held, not dropped
            with pytest.raises(StorageError):
                writer.append({"voltage_V": [3.7]})  # the failure is not silent
            return kept, exc
    raise AssertionError("the database never filled up")


def _check_sound(url: str, run_id: int, kept: int) -> None:
    with open_store(url) as store:
        if store.dialect == "sqlite":
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        data = store.read_samples(run_id)
        assert len(data["voltage_V"]) == kept
        np.testing.assert_array_equal(data["record_index"], np.arange(1, kept + 1))
        assert abs(float(data["voltage_V"].mean()) - 3.7) < 0.01


def test_size_limit_gives_one_clear_error_and_no_corruption(tmp_path: Path) -> None:
    path = tmp_path / "limited.db"
    open_store(f"sqlite:///{path}").close()
    url = f"sqlite:///{path}?max_page_count=400"  # 400 pages of 4 KiB: about 1.6 MB
    with open_store(url) as store:
        run_id = store.start_run(cell_id=None, protocol_id=None, slot="ch1")
        kept, exc = _fill_until_full(store, run_id)
        text = _one_sentence(exc, str(path))
        assert "is full" in text
        with pytest.raises(StorageError, match="is full"):
            store.add_event("note", "x" * 5_000_000)
    assert kept > 0
    _check_sound(f"sqlite:///{path}", run_id, kept)


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (needs root and mount rights; skipped otherwise)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tiny tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_filesystem_gives_one_clear_error_and_no_corruption(tiny_fs: Path) -> None:
    url = f"sqlite:///{tiny_fs / 'full.db'}"
    with open_store(url) as store:
        run_id = store.start_run(cell_id=None, protocol_id=None, slot="ch1")
        kept, exc = _fill_until_full(store, run_id)
    text = _one_sentence(exc, str(tiny_fs / "full.db"))
    assert "is full" in text
    assert kept > 0
    _check_sound(url, run_id, kept)


def _make_read_only(path: Path) -> None:
    if os.geteuid() != 0:
        path.chmod(0o444)
        return
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("root ignores file modes and chattr +i is not available here")


def test_read_only_sqlite_file_reads_but_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    url = f"sqlite:///{path}"
    with open_store(url) as store:
        run_id = store.start_run(cell_id=None, protocol_id=None, slot="ch1")
        store.write_samples(run_id, {"voltage_V": [3.1, 3.2, 3.3]})
    # Fold the WAL into the main file, as a lab's archived copy would be.
    import sqlite3

    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA journal_mode=DELETE")
    _make_read_only(path)
    try:
        with open_store(url) as store:
            assert store.read_samples(run_id)["voltage_V"].tolist() == [3.1, 3.2, 3.3]
            assert [r.id for r in store.list_runs()] == [run_id]
            with pytest.raises(StorageError) as err:
                store.add_cell("new")
            assert "read-only" in _one_sentence(err.value, str(path))
            writer = store.open_writer(run_id)
            writer.append({"voltage_V": [3.4]})
            with pytest.raises(StorageError, match="read-only"):
                writer.flush()
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=False)
        path.chmod(0o644)
    with open_store(url) as store:
        assert store.sample_count(run_id) == 3


def test_read_only_database_gives_one_clear_error(db_url: str) -> None:
    """sqlite `mode=ro` or a PostgreSQL database set to read-only transactions."""
    with open_store(db_url) as store:
        run_id = store.start_run(cell_id=None, protocol_id=None, slot="ch1")
    if db_url.startswith("sqlite"):
        path = db_url.removeprefix("sqlite:///")
        ro_url = f"sqlite:///file:{path}?mode=ro&uri=true"
    else:
        import psycopg

        ro_url = db_url
        dbname = db_url.rsplit("/", 1)[1]
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{dbname}" SET default_transaction_read_only = on')
    try:
        with open_store(ro_url) as store:
            assert store.get_run(run_id).slot == "ch1"
            with pytest.raises(StorageError) as err:
                store.add_event("note", "hello", run_id=run_id)
            text = _one_sentence(err.value, store.name)
            assert "read-only" in text
    finally:
        if not db_url.startswith("sqlite"):
            with psycopg.connect(db_url, autocommit=True) as conn:
                conn.execute("SET default_transaction_read_only = off")
                conn.execute(f'ALTER DATABASE "{dbname}" SET default_transaction_read_only = off')


def test_unreachable_postgres_is_one_sentence() -> None:
    port = 1  # nothing listens there
    url = f"postgresql://postgres@127.0.0.1:{port}/nope_{uuid.uuid4().hex[:6]}"
    with pytest.raises(StorageError) as err:
        open_store(url)
    assert "not reachable" in _one_sentence(err.value, f"127.0.0.1:{port}")
