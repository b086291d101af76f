"""Credentials against a password-protected Mosquitto, and MQTT control on and off."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import pytest
from mqtt_support import Mosquitto, Recorder, unavailable, wait_until

from scheduler.errors import SchedulerError
from scheduler.telemetry import ControlCommand, Telemetry, TelemetryConfig

pytestmark = pytest.mark.mqtt

USER, PASSWORD = "bench7", "correct horse"


@pytest.fixture
def secured(mosquitto: Callable[..., Mosquitto], tmp_path: Path) -> Mosquitto:
    """A broker that accepts only USER with PASSWORD."""
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        unavailable("no mosquitto_passwd executable")
    passwords = tmp_path / "passwords"
    subprocess.run([tool, "-b", "-c", str(passwords), USER, PASSWORD], check=True)
    return mosquitto(["allow_anonymous false", f"password_file {passwords}"], name="secured")


def _config(broker: Mosquitto, **extra: object) -> TelemetryConfig:
    return TelemetryConfig(
        broker=broker.url,
        username=USER,
        password_env="CB_TEST_MQTT_PASSWORD",
        reconnect_min_s=0.05,
        reconnect_max_s=0.2,
        **extra,
    )


def _recorder(broker: Mosquitto, topic: str) -> Recorder:
    return Recorder("127.0.0.1", broker.port, topic, USER, PASSWORD, persistent=False)


async def _send(broker: Mosquitto, topic: str, payload: object, retain: bool = False) -> None:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    async with aiomqtt.Client("127.0.0.1", broker.port, username=USER, password=PASSWORD) as client:
        await client.publish(topic, raw, qos=1, retain=retain)


async def test_wrong_password_is_one_clear_sentence_and_retried(
    secured: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CB_TEST_MQTT_PASSWORD", "wrong")
    telemetry = Telemetry(_config(secured), "auth1")
    await telemetry.start()
    try:
        telemetry.event("note", "Queued while the login fails.")
        await wait_until(lambda: telemetry.attempts >= 3, what="retries")
        error = telemetry.health()["error"]
        assert error.startswith(
            f"MQTT broker {secured.url} refused user '{USER}': wrong user name or password"
        )
        assert error.endswith(" s.") and ". " not in error and "\n" not in error
        assert telemetry.connected is False and telemetry.connects == 0
    finally:
        await telemetry.stop(flush_s=1)


async def test_right_password_publishes(
    secured: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CB_TEST_MQTT_PASSWORD", PASSWORD)
    async with _recorder(secured, "cellbench/v1/auth2/#") as rec:
        async with Telemetry(_config(secured), "auth2") as telemetry:
            telemetry.event("note", "Authenticated.")
            await wait_until(lambda: rec.events("note"), what="the event")
            assert telemetry.error is None and telemetry.connects == 1


async def test_control_is_ignored_when_off(
    secured: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CB_TEST_MQTT_PASSWORD", PASSWORD)
    received: list[ControlCommand] = []
    async with _recorder(secured, "cellbench/v1/ctl0/#") as rec:
        async with Telemetry(_config(secured, control=False), "ctl0") as telemetry:
            telemetry.on_control(received.append)
            await wait_until(lambda: telemetry.connected)
            await _send(
                secured, "cellbench/v1/ctl0/control", {"command": "pause", "job": 3, "by": "ann"}
            )
            # A marker event published afterwards proves the control message had its chance.
            await wait_until(lambda: rec.on("/control"), what="the control message on the broker")
            telemetry.event("marker", "After the command.")
            await wait_until(lambda: rec.events("marker"))
            await asyncio.sleep(0.2)
    assert received == []
    assert not [e for e in rec.on("/events") if e["kind"].startswith("control")]
    assert telemetry.health()["control"] is False


async def test_control_commands_are_dispatched_and_bad_ones_answered(
    secured: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CB_TEST_MQTT_PASSWORD", PASSWORD)
    topic = "cellbench/v1/ctl1/control"
    received: list[ControlCommand] = []

    async def handler(command: ControlCommand) -> None:
        await asyncio.sleep(0)
        if command.job == 99:
            raise SchedulerError("Job 99 does not exist.")
        if command.job == 13:
            raise RuntimeError("database is locked")
        received.append(command)

    async with _recorder(secured, "cellbench/v1/ctl1/events") as rec:
        async with Telemetry(_config(secured, control=True), "ctl1") as telemetry:
            telemetry.on_control(handler)
            await wait_until(lambda: telemetry.connected)
            await _send(secured, topic, {"command": "pause", "job": 3, "by": "ann"})
            await _send(secured, topic, {"command": "resume", "job": 3, "by": "ann"})
            await _send(secured, topic, b"{not json")
            await _send(secured, topic, {"command": "explode", "job": 3, "by": "ann"})
            await _send(secured, topic, {"command": "cancel", "by": "ann"})
            await _send(secured, topic, {"command": "ack", "job": 99, "by": "bob"})
            await _send(secured, topic, {"command": "cancel", "job": 13, "by": "bob"})
            await wait_until(lambda: len(rec.events()) >= 7, what="seven answers")
            telemetry_alive = telemetry.connected

    assert telemetry_alive
    assert [(c.command, c.job, c.by) for c in received] == [
        ("pause", 3, "ann"),
        ("resume", 3, "ann"),
    ]
    accepted = rec.events("control_accepted")
    assert [(e["command"], e["job"]) for e in accepted] == [("pause", 3), ("resume", 3)]
    rejected = [e["message"] for e in rec.events("control_rejected")]
    assert any("not valid JSON" in m for m in rejected)
    assert any("command" in m and "pause" in m and "explode" not in m for m in rejected)
    assert any("job" in m and "Field required" in m for m in rejected)
    assert "Job 99 does not exist." in rejected
    (failed,) = rec.events("control_failed")
    assert "database is locked" in failed["message"] and failed["job"] == 13
    assert all("\n" not in m for m in rejected)


async def test_retained_control_message_is_not_obeyed(
    secured: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CB_TEST_MQTT_PASSWORD", PASSWORD)
    topic = "cellbench/v1/ctl2/control"
    await _send(secured, topic, {"command": "cancel", "job": 4, "by": "eve"}, retain=True)
    received: list[ControlCommand] = []
    async with _recorder(secured, "cellbench/v1/ctl2/events") as rec:
        async with Telemetry(_config(secured, control=True), "ctl2") as telemetry:
            telemetry.on_control(received.append)
            await wait_until(lambda: rec.events("control_rejected"), what="the refusal")
    assert received == []
    (event,) = rec.events("control_rejected")
    assert "retained" in event["message"]
    # The stale command was cleared from the broker, so it cannot come back.
    async with aiomqtt.Client("127.0.0.1", secured.port, username=USER, password=PASSWORD) as c:
        await c.subscribe(topic, qos=1)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                async for message in c.messages:
                    if message.payload:
                        break
