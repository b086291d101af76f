"""Helpers for the telemetry tests: private Mosquitto processes and a recording subscriber."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

SYSTEM_HOST = os.environ.get("CELLBENCH_TEST_MQTT_HOST", "127.0.0.1")
SYSTEM_PORT = int(os.environ.get("CELLBENCH_TEST_MQTT_PORT", "1883"))


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Mosquitto is required under CI=true: {reason}", pytrace=False)
    pytest.skip(f"Mosquitto not available: {reason}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


async def wait_until(predicate: Callable[[], bool], within: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what or predicate}")
        await asyncio.sleep(0.02)


class Mosquitto:
    """A private Mosquitto process on a fixed port, with persistence in its own folder."""

    def __init__(self, folder: Path, lines: list[str] | None = None) -> None:
        self.exe = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
        if self.exe is None:
            unavailable("no mosquitto executable on PATH or in /usr/sbin")
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            "\n".join(
                [
                    f"listener {self.port} 127.0.0.1",
                    f"user {getpass.getuser()}",
                    "persistence true",
                    f"persistence_location {folder}/",
                    f"log_dest file {folder}/mosquitto.log",
                    *(lines or ["allow_anonymous true"]),
                ]
            )
            + "\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.exe is not None
        self.proc = subprocess.Popen(
            [self.exe, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port):
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                log = self.folder / "mosquitto.log"
                extra = log.read_text()[-2000:] if log.exists() else ""
                raise RuntimeError(f"mosquitto exited: {err} {extra}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not listen on {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM, as a broker restart or crash-and-restart by systemd would look."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None


@dataclass
class Received:
    topic: str
    data: dict[str, Any] | None
    retain: bool


@dataclass
class Recorder:
    """A subscriber that records what actually reached the broker's subscribers.

    It keeps a persistent session (clean_session=False, QoS 1) and reconnects, so QoS 1 messages
    published while it was away are delivered once the broker is back.
    """

    host: str
    port: int
    topic: str
    username: str | None = None
    password: str | None = None
    persistent: bool = True
    tls_context: ssl.SSLContext | None = None
    messages: list[Received] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Recorder:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.connected.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        identifier = f"recorder-{uuid.uuid4().hex[:8]}"
        while True:
            try:
                async with aiomqtt.Client(
                    self.host,
                    self.port,
                    username=self.username,
                    password=self.password,
                    identifier=identifier,
                    clean_session=not self.persistent,
                    tls_context=self.tls_context,
                ) as client:
                    await client.subscribe(self.topic, qos=1)
                    self.connected.set()
                    async for message in client.messages:
                        raw = message.payload
                        data = json.loads(raw) if isinstance(raw, bytes) and raw else None
                        self.messages.append(Received(str(message.topic), data, message.retain))
            except aiomqtt.MqttError:
                self.connected.clear()
                await asyncio.sleep(0.05)

    def on(self, suffix: str) -> list[dict[str, Any]]:
        """Payloads received on topics ending with suffix, in arrival order."""
        return [m.data for m in self.messages if m.topic.endswith(suffix) and m.data is not None]

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.on("/events") if kind is None or e["kind"] == kind]


async def retained(
    host: str, port: int, topic: str, username: str | None = None, password: str | None = None
) -> dict[str, dict[str, Any]]:
    """What a fresh subscriber gets as retained messages under a topic filter."""
    found: dict[str, dict[str, Any]] = {}
    async with aiomqtt.Client(host, port, username=username, password=password) as client:
        await client.subscribe(topic, qos=1)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.4):
                async for message in client.messages:
                    if message.retain and message.payload:
                        found[str(message.topic)] = json.loads(message.payload)  # type: ignore[arg-type]
    return found
