"""Daemon test fixtures: helper paths, and a throwaway PostgreSQL database per test (made by
the shared `pg_server` of tests/conftest.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# The helpers for starting simulator, daemon and broker processes.
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "bench"))
sys.path.insert(0, str(HERE.parent / "telemetry"))


@pytest.fixture
def pg_url(pg_server: Callable[[], str]) -> str:
    """A brand-new PostgreSQL database for one test (the daemons share it; it is dropped at
    session end). `pg_server` skips without the server, and fails under CI=true."""
    return pg_server()
