"""A daemon stand-in for the last-will test: publishes "running", then waits to be killed."""

from __future__ import annotations

import asyncio
import sys

from scheduler.telemetry import Telemetry, TelemetryConfig


async def main(broker: str, bench: str) -> None:
    telemetry = Telemetry(TelemetryConfig(broker=broker, reconnect_min_s=0.05), bench)
    await telemetry.start()
    telemetry.status("running", pid_role="child")
    while not (telemetry.connected and telemetry.buffered == 0):  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
