"""Run `cellbench daemon` as its own process for tests, next to a `cellbench sim` process."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CELLBENCH = [sys.executable, "-c", "from scheduler.cli import main; main()"]


@dataclass
class DaemonProcess:
    process: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        return self.log.read_text()


def start_daemon(
    bench: Path, db: str, folder: Path, name: str = "daemon", *, daemon_id: str | None = None
) -> DaemonProcess:
    log = folder / f"{name}.log"
    extra = ["--id", daemon_id] if daemon_id else []
    process = subprocess.Popen(
        [*CELLBENCH, "daemon", "--bench", str(bench), "--db", db, "--poll-s", "0.2", *extra],
        stdout=subprocess.DEVNULL,
        stderr=log.open("a"),
        text=True,
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


def wait_for(predicate: Any, timeout_s: float, what: str, daemon: DaemonProcess) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if daemon.process.poll() is not None:
            raise AssertionError(f"the daemon exited while waiting for {what}:\n{daemon.output()}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}:\n{daemon.output()[-3000:]}")
