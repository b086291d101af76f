"""Telemetry fixtures: the machine's Mosquitto at 127.0.0.1:1883, and private Mosquitto processes.

Private brokers run from a config file in tmp_path on a free port so a test can stop (SIGTERM) and
restart them, or give them a password file. Without Mosquitto the tests skip with a reason,
except under CI=true, where they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiomqtt
import pytest
from mqtt_support import SYSTEM_HOST, SYSTEM_PORT, Mosquitto, port_open, unavailable


@pytest.fixture
def system_broker() -> tuple[str, int]:
    """The machine's broker (host, port)."""
    if not port_open(SYSTEM_HOST, SYSTEM_PORT):
        unavailable(f"nothing listens on {SYSTEM_HOST}:{SYSTEM_PORT}")
    return SYSTEM_HOST, SYSTEM_PORT


@pytest.fixture
async def bench_name(system_broker: tuple[str, int]) -> AsyncIterator[str]:
    """A bench name unique to the test; its retained topics are cleared on the system broker."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    host, port = system_broker
    with contextlib.suppress(aiomqtt.MqttError):
        async with aiomqtt.Client(host, port) as client:
            await client.subscribe(f"cellbench/v1/{name}/#")
            topics: set[str] = set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.3):
                    async for message in client.messages:
                        if message.retain:
                            topics.add(str(message.topic))
            for topic in topics:
                await client.publish(topic, b"", qos=1, retain=True)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """Factory of private brokers; each is stopped at the end of the test."""
    made: list[Mosquitto] = []

    def make(lines: list[str] | None = None, name: str = "broker") -> Mosquitto:
        broker = Mosquitto(tmp_path / f"{name}{len(made)}", lines)
        made.append(broker)
        broker.start()
        return broker

    yield make
    for broker in made:
        broker.stop()
