"""Run `cellbench daemon` as its own process for tests, next to a `cellbench sim` process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from simbench_process import SimProcess, start_sim, stop_sim

from scheduler.bench import Bench
from storage import open_store

CELLBENCH = [sys.executable, "-c", "from scheduler.cli import main; main()"]


@dataclass
class DaemonProcess:
    process: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        return self.log.read_text()


def start_daemon(
    bench: Path,
    db: str,
    folder: Path,
    name: str = "daemon",
    *,
    daemon_id: str | None = None,
    env: dict[str, str] | None = None,
) -> DaemonProcess:
    """`env`: extra environment variables (e.g. scheduler.crashpoints' CELLBENCH_CRASH_AT)."""
    log = folder / f"{name}.log"
    extra = ["--id", daemon_id] if daemon_id else []
    process = subprocess.Popen(
        [*CELLBENCH, "daemon", "--bench", str(bench), "--db", db, "--poll-s", "0.2", *extra],
        stdout=subprocess.DEVNULL,
        stderr=log.open("a"),
        text=True,
        env={**os.environ, **(env or {})},
    )
    return DaemonProcess(process, log)


def stop_daemon(daemon: DaemonProcess, timeout_s: float = 20.0) -> int:
    if daemon.process.poll() is None:
        daemon.process.terminate()
        try:
            return daemon.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            daemon.process.kill()
    return daemon.process.wait()


def _polls(timeout_s: float, what: str, daemon: DaemonProcess) -> Iterator[None]:
    """One turn per poll while the daemon runs, until the deadline: then an AssertionError."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        yield
        if daemon.process.poll() is not None:
            raise AssertionError(f"the daemon exited while waiting for {what}:\n{daemon.output()}")
    raise AssertionError(f"timed out waiting for {what}:\n{daemon.output()[-3000:]}")


def wait_for(predicate: Any, timeout_s: float, what: str, daemon: DaemonProcess) -> Any:
    """The first truthy value of `predicate`, polled every 0.1 s while the daemon runs."""
    for _ in _polls(timeout_s, what, daemon):
        if value := predicate():
            return value
        time.sleep(0.1)


async def until(predicate: Any, timeout_s: float, what: str, daemon: DaemonProcess) -> Any:
    """`wait_for` from async code: the predicate runs in a thread, every 0.05 s."""
    for _ in _polls(timeout_s, what, daemon):
        if value := await asyncio.to_thread(predicate):
            return value
        await asyncio.sleep(0.05)


@dataclass
class Lab:
    """A `cellbench sim` process, its bench file loaded, a store, and the daemons started on it."""

    sim: SimProcess
    bench: Bench
    db: str
    store: Any
    folder: Path
    daemons: list[DaemonProcess] = field(default_factory=list)

    def start_daemon(self, name: str = "daemon", **options: Any) -> DaemonProcess:
        daemon = start_daemon(self.sim.resolved, self.db, self.folder, name, **options)
        self.daemons.append(daemon)
        return daemon

    def restart_to_completion(self, job_id: int, name: str = "second") -> DaemonProcess:
        """Start a daemon again after a kill and wait until it has finished `job_id`, which
        must have completed."""
        daemon = self.start_daemon(name)
        wait_for(
            lambda: self.store.get_job(job_id).state in ("completed", "failed"),
            120,
            "the job to finish",
            daemon,
        )
        job = self.store.get_job(job_id)
        assert job.state == "completed", job.message
        return daemon


def assert_kept(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Every sample committed before a kill is still stored, unchanged, and time runs on."""
    kept = np.isin(after["record_index"], before["record_index"])
    assert kept.sum() == len(before["record_index"])
    assert np.array_equal(after["voltage_V"][kept], before["voltage_V"])
    assert np.all(np.diff(after["test_time_s"]) > 0)


@contextmanager
def lab(bench_text: str, folder: Path, db: str | None = None) -> Iterator[Lab]:
    """A simulated bench and a store (SQLite in `folder` unless `db` is given); on the way out
    every daemon started through it is stopped, then the simulator. The store stays open."""
    sim = start_sim(bench_text, folder)
    url = db or f"sqlite:///{folder}/lab.db"
    the_lab = None
    try:
        the_lab = Lab(sim, Bench.load(sim.resolved), url, open_store(url), folder)
        yield the_lab
    finally:
        for daemon in the_lab.daemons if the_lab else []:
            stop_daemon(daemon)
        stop_sim(sim)
