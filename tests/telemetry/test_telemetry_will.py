"""The last will: a daemon that dies without a clean stop is shown "offline" by the broker."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from mqtt_support import Recorder, retained, wait_until

from scheduler.telemetry import Telemetry, TelemetryConfig

pytestmark = pytest.mark.mqtt

ROOT = Path(__file__).resolve().parents[2]


async def test_killed_daemon_leaves_retained_offline(
    system_broker: tuple[str, int], bench_name: str
) -> None:
    host, port = system_broker
    topic = f"cellbench/v1/{bench_name}/status"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name("will_child.py")),
        f"mqtt://{host}:{port}",
        bench_name,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), 20)
        assert line.strip() == b"ready"
        async with Recorder(host, port, topic, persistent=False) as rec:
            await wait_until(lambda: rec.on("/status"), what="the retained running status")
            assert rec.on("/status")[-1]["state"] == "running"
            child.kill()  # SIGKILL: no DISCONNECT packet, the socket just closes
            await wait_until(
                lambda: rec.on("/status")[-1]["state"] == "offline", within=10, what="the will"
            )
            assert rec.on("/status")[-1] == {"v": 1, "state": "offline"}
        assert (await retained(host, port, topic))[topic] == {"v": 1, "state": "offline"}
    finally:
        if child.returncode is None:
            child.kill()
        await child.wait()


async def test_clean_stop_is_offline_with_a_reason_and_no_will(
    system_broker: tuple[str, int], bench_name: str
) -> None:
    host, port = system_broker
    topic = f"cellbench/v1/{bench_name}/status"
    telemetry = Telemetry(TelemetryConfig(broker=f"mqtt://{host}:{port}"), bench_name)
    async with Recorder(host, port, topic, persistent=False) as rec:
        await telemetry.start()
        telemetry.status("idle")
        await wait_until(lambda: any(p["state"] == "idle" for p in rec.on("/status")))
        await telemetry.stop()
        await wait_until(lambda: rec.on("/status")[-1]["state"] == "offline")
        await asyncio.sleep(0.2)
    states = [(p["state"], p.get("reason")) for p in rec.on("/status")]
    assert states[-1] == ("offline", "stopped")
    assert ("offline", None) not in states, "a clean stop must not fire the last will"
