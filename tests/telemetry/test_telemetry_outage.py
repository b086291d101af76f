"""A broker outage mid-run: producers keep going, telemetry buffers (bounded) and catches up."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from mqtt_support import Mosquitto, Recorder, retained, wait_until

from scheduler.telemetry import Telemetry, TelemetryConfig

pytestmark = pytest.mark.mqtt

BUFFER = 200
OUTAGE_SAMPLES = 1000
OUTAGE_EVENTS = 10


async def test_broker_outage_buffers_and_resumes(mosquitto: Callable[..., Mosquitto]) -> None:
    # QoS 0 samples are queued for the (persistent) recorder too, so it sees every sample the
    # broker accepted even while it reconnects after the restart.
    broker = mosquitto(["allow_anonymous true", "queue_qos0_messages true"])
    host, port = "127.0.0.1", broker.port
    prefix = "cellbench/v1/rig1"
    config = TelemetryConfig(
        broker=broker.url, buffer=BUFFER, reconnect_min_s=0.05, reconnect_max_s=0.3
    )
    async with Recorder(host, port, f"{prefix}/#") as rec:
        telemetry = Telemetry(config, "rig1")
        await telemetry.start()
        try:
            await wait_until(lambda: telemetry.connected, what="the first connection")
            telemetry.status("running", phase="before")
            telemetry.slot_state("A1", state="running", step=1)
            for n in range(50):
                telemetry.sample("A1", n=n)
            telemetry.event("step_start", "Step 1 started.", step=1)
            await wait_until(lambda: len(rec.on("/data")) == 50, what="samples before")

            broker.stop()
            await wait_until(lambda: not telemetry.connected, what="the outage to be noticed")

            # The run goes on: every producer call returns at once and the buffer stays bounded.
            calls = []
            burst = time.perf_counter()
            for n in range(OUTAGE_SAMPLES):
                t0 = time.perf_counter()
                telemetry.sample("A1", n=1000 + n)
                calls.append(time.perf_counter() - t0)
                assert telemetry.buffered <= BUFFER
                if n % 100 == 0:
                    telemetry.event("step_end", f"Step {n // 100} ended.", i=n // 100)
                    telemetry.slot_state("A1", state="running", step=2 + n // 100)
            burst = time.perf_counter() - burst
            telemetry.status("running", phase="outage")
            p99 = sorted(calls)[int(0.99 * len(calls))]
            assert burst < 1.0 and p99 < 0.005 and max(calls) < 0.25, (burst, p99, max(calls))

            await wait_until(lambda: telemetry.attempts >= 3, what="reconnect attempts")
            health = telemetry.health()
            assert health["connected"] is False
            assert health["error"].startswith("Lost the connection at ")
            assert f"cannot reach MQTT broker {broker.url}" in health["error"]
            assert health["offline_since"] is not None
            assert health["buffered"] == BUFFER

            kept = BUFFER - 2 - OUTAGE_EVENTS  # status + slot state + events, the rest samples
            assert telemetry.dropped == {"samples": OUTAGE_SAMPLES - kept, "events": 0}

            broker.start()
            await wait_until(lambda: telemetry.connected, within=10, what="reconnection")
            await wait_until(
                lambda: (
                    len(rec.events("step_end")) >= OUTAGE_EVENTS and rec.events("telemetry_dropped")
                ),
                within=10,
                what="the buffered events",
            )
            await wait_until(
                lambda: any(p["n"] == 1000 + OUTAGE_SAMPLES - 1 for p in rec.on("/data")),
                what="the newest buffered sample",
            )

            # Events published during the outage arrive (QoS 1 from the buffer), in order.
            assert sorted({e["i"] for e in rec.events("step_end")}) == list(range(OUTAGE_EVENTS))
            (report,) = rec.events("telemetry_dropped")
            assert report["samples"] == OUTAGE_SAMPLES - kept == telemetry.dropped["samples"]
            assert report["events"] == 0
            assert str(report["samples"]) in report["message"]

            # What was kept is the newest samples; the oldest went first.
            outage = [p["n"] for p in rec.on("/data") if p["n"] >= 1000]
            assert outage == list(range(1000 + OUTAGE_SAMPLES - kept, 1000 + OUTAGE_SAMPLES))

            # Retained state is current, although it changed while the broker was away.
            now = await retained(host, port, f"{prefix}/#")
            assert now[f"{prefix}/status"]["phase"] == "outage"
            assert now[f"{prefix}/slot/A1/state"]["step"] == 2 + (OUTAGE_SAMPLES - 1) // 100

            # And live telemetry flows again.
            telemetry.sample("A1", n=5000)
            await wait_until(lambda: any(p["n"] == 5000 for p in rec.on("/data")), what="resume")
            assert telemetry.peak_buffered <= BUFFER
            assert telemetry.error is None and telemetry.connects == 2
        finally:
            await telemetry.stop()


async def test_stop_during_an_outage_returns_promptly_and_restart_goes_online(
    mosquitto: Callable[..., Mosquitto],
) -> None:
    broker = mosquitto()
    prefix = "cellbench/v1/rig2"
    config = TelemetryConfig(broker=broker.url, reconnect_min_s=0.05, reconnect_max_s=0.2)
    telemetry = Telemetry(config, "rig2")
    await telemetry.start()
    await wait_until(lambda: telemetry.connected, what="the first connection")
    broker.stop()
    telemetry.event("safety_trip", "Slot A1 tripped during the outage.", slot="A1")
    began = time.perf_counter()
    await telemetry.stop(flush_s=1.0)
    assert time.perf_counter() - began < 1.5
    assert not telemetry.connected
    assert telemetry.buffered >= 2, "the offline status and the event stay queued, not lost"

    broker.start()
    async with Recorder("127.0.0.1", broker.port, f"{prefix}/#") as rec:
        await telemetry.start()
        try:
            await wait_until(lambda: rec.events("safety_trip"), what="the queued event")
            now = await retained("127.0.0.1", broker.port, f"{prefix}/status")
            assert now[f"{prefix}/status"]["state"] == "online"
        finally:
            await telemetry.stop()
    after = await retained("127.0.0.1", broker.port, f"{prefix}/status")
    assert after[f"{prefix}/status"]["state"] == "offline"
