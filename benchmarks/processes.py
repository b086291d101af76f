"""The `cellbench` processes a benchmark starts, stops and measures from /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

CELLBENCH = [sys.executable, "-c", "from scheduler.cli import main; main()"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def stop(process: subprocess.Popen[bytes]) -> float:
    """SIGTERM, then SIGKILL after 30 s; returns the seconds to a graceful exit (inf: killed)."""
    if process.poll() is not None:
        return 0.0
    started = time.monotonic()
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return float("inf")
    return time.monotonic() - started


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
