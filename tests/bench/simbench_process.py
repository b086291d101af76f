"""Start `cellbench sim --bench … --write-bench …` as its own process, on ports the OS picks,
and talk to its fault-injection endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CELLBENCH = [sys.executable, "-c", "from scheduler.cli import main; main()"]
TEST_TIME_SCALE = 1000.0


def cellbench(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The CLI in a child process, on a wide terminal so that messages are not wrapped."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [*CELLBENCH, *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def port_zero(text: str, time_scale: float | None = None) -> str:
    """The bench text with every TCP port set to 0 (the simulator picks free ones)."""
    text = re.sub(r'"tcp://127\.0\.0\.1:\d+"', '"tcp://127.0.0.1:0"', text)
    if time_scale is not None:
        text = re.sub(r"(?m)^time_scale = .*$", f"time_scale = {time_scale}", text)
    return text


@dataclass
class SimProcess:
    process: subprocess.Popen[str]
    resolved: Path
    log: Path

    def stderr(self) -> str:
        return self.log.read_text()


def start_sim(bench_text: str, folder: Path, timeout_s: float = 30.0) -> SimProcess:
    source = folder / "bench.toml"
    source.write_text(bench_text)
    resolved = folder / "resolved.toml"
    log = folder / "sim.log"
    process = subprocess.Popen(
        [*CELLBENCH, "sim", "--bench", str(source), "--write-bench", str(resolved)],
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        text=True,
    )
    deadline = time.monotonic() + timeout_s
    while not resolved.exists():
        if process.poll() is not None:
            raise AssertionError(f"cellbench sim exited {process.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"cellbench sim did not get ready:\n{log.read_text()}")
        time.sleep(0.05)
    return SimProcess(process, resolved, log)


def stop_sim(sim: SimProcess) -> None:
    if sim.process.poll() is None:
        sim.process.terminate()
        try:
            sim.process.wait(10)
        except subprocess.TimeoutExpired:
            sim.process.kill()
            sim.process.wait()


async def control(bench: object, request: dict) -> dict:
    """Send one request to the simulation's fault-injection endpoint."""
    from urllib.parse import urlparse

    address = urlparse(bench.simulation.control)  # type: ignore[attr-defined]
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write((json.dumps(request) + "\n").encode())
        await writer.drain()
        return json.loads(await asyncio.wait_for(reader.readline(), 5.0))
    finally:
        writer.close()
