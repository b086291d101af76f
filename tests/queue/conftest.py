"""Queue fixtures: the test bench, its protocols, the CLI, and a store holding cell C1.

The databases (`db_url`, `store` on SQLite and PostgreSQL) come from tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from queue_fixtures import BENCH_FILE, PROTOCOLS, protocol_text

from scheduler import queue
from scheduler.bench import Bench
from storage import Store


@pytest.fixture
def protocol_file(tmp_path: Path) -> Callable[[str], Path]:
    """Write a test protocol to a file and return its path."""

    def write(key: str) -> Path:
        path = tmp_path / f"{key}.yaml"
        path.write_text(protocol_text(key), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def bench() -> Bench:
    """A1: EmStat4 in a chamber and press; A2: EmStat4 alone; B2: Keithley 2450 alone."""
    return Bench.load(BENCH_FILE)


@pytest.fixture
def store(store: Store) -> Store:
    """The shared `store` (tests/conftest.py) with cell C1 (1C = 200 mA/g × 12 mg = 2.4 mA)."""
    store.add_cell("C1", chemistry="NCM811", active_mass_g=0.012, specific_capacity_mAh_g=200.0)
    return store


@pytest.fixture
def submit(store: Store, bench: Bench) -> Callable[..., int]:
    """`queue.submit` on the test bench for cell C1 by kim: submit("rest", slot="A2", ...).

    The protocol is a test protocol's key, or a protocol's path or text; other keywords go to
    `queue.submit` as they are (cell_name and by too)."""

    def run(protocol: str | Path = "rest", **options: Any) -> int:
        source = protocol_text(protocol) if protocol in PROTOCOLS else protocol
        return queue.submit(
            store,
            bench,
            protocol_path_or_text=source,
            **{"cell_name": "C1", "by": "kim", **options},
        )

    return run


@pytest.fixture
def cli(db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Run `cellbench ARGS` in-process against the test database: (exit code, stdout, stderr)."""
    from scheduler.cli import main

    monkeypatch.setenv("CELLBENCH_DB", db_url)
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = 0
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run
