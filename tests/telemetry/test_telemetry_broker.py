"""Publishing to the machine's Mosquitto: topic tree, retained state, QoS, graceful stop."""

from __future__ import annotations

import pytest
from mqtt_support import Recorder, retained, wait_until

from scheduler.telemetry import Telemetry, TelemetryConfig

pytestmark = pytest.mark.mqtt


def _config(host: str, port: int, **extra: object) -> TelemetryConfig:
    return TelemetryConfig(broker=f"mqtt://{host}:{port}", reconnect_min_s=0.05, **extra)


async def test_topic_tree_and_payloads_reach_a_subscriber(
    system_broker: tuple[str, int], bench_name: str
) -> None:
    host, port = system_broker
    prefix = f"cellbench/v1/{bench_name}"
    async with Recorder(host, port, f"{prefix}/#", persistent=False) as rec:
        async with Telemetry(_config(host, port), bench_name) as telemetry:
            telemetry.status("running", jobs=1)
            telemetry.slot_state("A1", state="running", job=7, step=2)
            for i in range(50):
                telemetry.sample("A1", voltage_V=3.5 + 0.01 * i, current_A=float("nan"))
            telemetry.event("step_end", "Step 2 ended on voltage >= 4.3 V.", slot="A1", job=7)
            await wait_until(lambda: len(rec.on("/data")) == 50, what="50 samples")
            await wait_until(lambda: rec.events("step_end"), what="the event")
            assert telemetry.connected and telemetry.error is None
            assert telemetry.published >= 53

            now = await retained(host, port, f"{prefix}/#")
            assert now[f"{prefix}/status"]["state"] == "running"
            assert now[f"{prefix}/status"]["jobs"] == 1
            assert now[f"{prefix}/slot/A1/state"]["step"] == 2
            assert f"{prefix}/slot/A1/data" not in now, "samples are not retained"

        volts = [p["voltage_V"] for p in rec.on("/slot/A1/data")]
        assert volts == pytest.approx([3.5 + 0.01 * i for i in range(50)])
        assert all(p["current_A"] is None and p["v"] == 1 for p in rec.on("/data"))
        (event,) = rec.events("step_end")
        assert (event["job"], event["slot"]) == (7, "A1")

    after = await retained(host, port, f"{prefix}/#")
    assert after[f"{prefix}/status"]["state"] == "offline"
    assert after[f"{prefix}/status"]["reason"] == "stopped"
    assert telemetry.connected is False


async def test_retained_state_keeps_only_the_latest_value(
    system_broker: tuple[str, int], bench_name: str
) -> None:
    host, port = system_broker
    prefix = f"cellbench/v1/{bench_name}"
    async with Telemetry(_config(host, port), bench_name) as telemetry:
        for step in range(20):
            telemetry.slot_state("B2", state="running", step=step)
        telemetry.slot_state("C3", state="idle")
        await wait_until(lambda: telemetry.buffered == 0 and telemetry.published > 0)
        now = await retained(host, port, f"{prefix}/slot/+/state")
    assert now[f"{prefix}/slot/B2/state"]["step"] == 19
    assert now[f"{prefix}/slot/C3/state"]["state"] == "idle"


async def test_unreachable_broker_never_blocks_and_says_why() -> None:
    from mqtt_support import free_port

    port = free_port()  # nothing listens here
    telemetry = Telemetry(_config("127.0.0.1", port, buffer=100), "nobroker")
    await telemetry.start()
    try:
        for i in range(1000):
            telemetry.sample("A1", n=i)
        telemetry.event("note", "Still running.")
        await wait_until(lambda: telemetry.attempts >= 2, what="a retry")
        health = telemetry.health()
        assert health["connected"] is False
        assert health["error"].startswith(f"Cannot reach MQTT broker mqtt://127.0.0.1:{port}")
        assert "retrying in" in health["error"]
        assert health["buffered"] == 100 and health["dropped"]["samples"] == 902
    finally:
        await telemetry.stop(flush_s=1)
