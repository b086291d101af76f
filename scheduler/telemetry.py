"""MQTT telemetry: live bench state for dashboards, never in the way of a run.

The database is the system of record; telemetry is a best-effort mirror of it. Producers never
touch the network: they serialise a message and put it in a bounded buffer that one background
task drains into an ``aiomqtt.Client``. When the broker goes away the task reconnects with
backoff while the buffer keeps filling; when it is full the oldest samples go first, then the
oldest events, and retained state is never dropped (only its latest value per topic is kept).
After every (re)connect all retained state is published again and a ``telemetry_dropped`` event
says how much was lost.

Topic tree (``<bench>`` is the bench name)::

    cellbench/v1/<bench>/status              retained, QoS 1; last will {"v": 1, "state": "offline"}
    cellbench/v1/<bench>/slot/<slot>/state   retained, QoS 1
    cellbench/v1/<bench>/slot/<slot>/data    QoS 0, dropped first when the buffer is full
    cellbench/v1/<bench>/events              QoS 1, carries a per-process "seq" for de-duplication
    cellbench/v1/<bench>/control             subscribed only with control = true and a username

Payloads are JSON objects with ``"v": 1`` and ``"ts"`` (UTC, ISO 8601 with ms) plus the caller's
fields; NaN and infinities become ``null``, numpy values are unwrapped and pint quantities become
``{"value", "unit"}``. The reserved keys (v, ts, state, slot, seq, kind, message) win over fields
of the same name. Events are delivered at least once; "seq" lets a subscriber drop repeats.

Use from the daemon. Producers are plain, non-blocking calls that never wait for the network;
call them on the event-loop thread (from a worker thread use ``loop.call_soon_threadsafe``)::

    config = TelemetryConfig.from_bench_table(toml["telemetry"])   # SchedulerError if invalid
    telemetry = Telemetry(config, bench_name="sim-bench")
    telemetry.on_control(handler)        # handler(ControlCommand) -> None | Awaitable[None]
    await telemetry.start()
    telemetry.status("running", jobs=2)
    telemetry.slot_state("A1", state="running", job=7, step=3)
    telemetry.sample("A1", voltage_V=3.71, current_A=-0.0017)
    telemetry.event("safety_trip", "Slot A1 voltage 4.61 V above 4.60 V.", slot="A1")
    telemetry.health()                   # connected, error, buffered, dropped, ...
    await telemetry.stop()               # publishes retained "offline", flushes, disconnects

Control commands (``{"command": "pause"|"resume"|"cancel"|"ack", "job": N, "by": "..."}``; "ack"
is the operator's acknowledgement that lets an interrupted job resume) are handed to the
registered handler, and a ``control_accepted`` event confirms each one it took. A handler may
raise SchedulerError to refuse a command; that sentence is published as a ``control_rejected``
event (any other exception becomes ``control_failed``). Malformed and retained control messages
are answered with ``control_rejected`` and never reach the handler (a retained one is also
cleared). Enable control only on a broker whose ACL restricts who may publish to that topic.

``TelemetryConfig`` may also be nested in a larger pydantic model (the bench file): its checks
raise ValueError, so the outer model reports the key path.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import math
import os
import random
import re
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import aiomqtt
from aiomqtt.exceptions import MqttConnectError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scheduler.errors import SchedulerError
from scheduler.telemetry_config import TelemetryConfig, _explain

log = logging.getLogger(__name__)

TOPIC_ROOT = "cellbench/v1"
PAYLOAD_VERSION = 1
OFFLINE_WILL = json.dumps({"v": PAYLOAD_VERSION, "state": "offline"}).encode()
_BATCH = 64  # messages published concurrently; bounds what is in flight
_MAX_CONTROL_BYTES = 4096
_DROP_REPORT_INTERVAL_S = 1.0


class ControlCommand(BaseModel):
    """One operator command received on the control topic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    command: Literal["pause", "resume", "cancel", "ack"]
    job: int = Field(ge=1)
    by: str = Field(min_length=1, max_length=200)


ControlHandler = Callable[[ControlCommand], Awaitable[None] | None]


@dataclass(slots=True)
class _Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    kind: Literal["state", "event", "sample"]


class Telemetry:
    """Publishes a bench's status, slot state, samples and events to MQTT; see module docs."""

    def __init__(self, config: TelemetryConfig, bench_name: str) -> None:
        _check_segment(bench_name, "bench name")
        self.config = config
        self.bench_name = bench_name
        self.prefix = f"{TOPIC_ROOT}/{bench_name}"
        self._password = config.password()
        self._tls_context = _tls_context(config) if config.tls else None
        self._client_id = config.client_id or f"cellbench-{bench_name}-{os.getpid()}"
        self._max = config.buffer

        self._states: dict[str, _Message] = {}
        self._dirty: dict[str, None] = {}  # topics whose latest state is not yet published
        self._events: deque[_Message] = deque()
        self._samples: deque[_Message] = deque()
        self._inflight = 0
        self._wake = asyncio.Event()
        self._seq = 0

        self.connected = False
        self.error: str | None = None
        self.dropped: dict[str, int] = {"samples": 0, "events": 0}
        self._unreported = {"samples": 0, "events": 0}
        self._last_drop_report = 0.0
        self.published = 0
        self.peak_buffered = 0
        self.connects = 0
        self.attempts = 0
        self._lost_at: str | None = None  # when an established connection went away
        self._last_reason: str | None = None

        self._handler: ControlHandler | None = None
        self._control_tasks: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stop_requested = asyncio.Event()
        self._status_state = "online"
        self.status("online")

    # ------------------------------------------------------------------ producers

    def status(self, state: str, **fields: Any) -> None:
        """Set the bench's retained status (``online``, ``running``, ``idle``, ``offline``...)."""
        self._status_state = state
        self._set_state(f"{self.prefix}/status", {**fields, "state": state})

    def slot_state(self, slot: str, **fields: Any) -> None:
        """Set a slot's retained state (job, step, cycle, alarms...)."""
        _check_segment(slot, "slot name")
        self._set_state(f"{self.prefix}/slot/{slot}/state", {**fields, "slot": slot})

    def sample(self, slot: str, **fields: Any) -> None:
        """Queue one live data point of a slot (QoS 0; the first thing dropped under pressure)."""
        _check_segment(slot, "slot name")
        payload = _encode({**fields, "slot": slot})
        topic = f"{self.prefix}/slot/{slot}/data"
        self._samples.append(_Message(topic, payload, 0, False, "sample"))
        self._added()

    def event(self, kind: str, message: str, **fields: Any) -> None:
        """Queue an event (QoS 1, at least once): safety trips, reconnects, operator actions."""
        self._seq += 1
        payload = _encode({**fields, "seq": self._seq, "kind": kind, "message": message})
        self._events.append(_Message(f"{self.prefix}/events", payload, 1, False, "event"))
        self._added()

    def on_control(self, handler: ControlHandler) -> None:
        """Register the daemon's handler for control commands (used only with control on)."""
        self._handler = handler

    # ------------------------------------------------------------------ health

    @property
    def buffered(self) -> int:
        """Messages waiting or in flight; never more than ``config.buffer`` plus state topics."""
        return len(self._samples) + len(self._events) + len(self._dirty) + self._inflight

    @property
    def control_enabled(self) -> bool:
        return self.config.control and bool(self.config.username)

    def health(self) -> dict[str, Any]:
        """A snapshot for the daemon's status output."""
        return {
            "broker": self.config.broker,
            "connected": self.connected,
            "error": self.error,
            "buffered": self.buffered,
            "buffer": self._max,
            "peak_buffered": self.peak_buffered,
            "dropped": dict(self.dropped),
            "published": self.published,
            "connects": self.connects,
            "offline_since": self._lost_at,
            "attempts": self.attempts,
            "control": self.control_enabled,
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start the background publisher; returns at once, connected or not."""
        if self._task is not None:
            return
        self._stopping = False
        self._stop_requested.clear()
        if self._status_state == "offline":
            self.status("online")  # restarted after a stop
        self._task = asyncio.create_task(self._run(), name=f"telemetry-{self.bench_name}")

    async def stop(self, flush_s: float = 5.0) -> None:
        """Publish retained "offline", flush what is buffered (up to ``flush_s``), disconnect."""
        if self._task is None:
            return
        self.status("offline", reason="stopped")
        self._stopping = True
        self._stop_requested.set()
        self._wake.set()
        task, self._task = self._task, None
        try:
            await asyncio.wait_for(asyncio.shield(task), flush_s)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for control_task in list(self._control_tasks):
            control_task.cancel()
        self.connected = False

    async def __aenter__(self) -> Telemetry:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ buffer

    def _set_state(self, topic: str, fields: dict[str, Any]) -> None:
        self._states[topic] = _Message(topic, _encode(fields), 1, True, "state")
        self._dirty[topic] = None
        self._added()

    def _added(self) -> None:
        self._enforce_bound()
        self.peak_buffered = max(self.peak_buffered, self.buffered)
        self._wake.set()

    def _enforce_bound(self) -> None:
        while self.buffered > self._max:
            if self._samples:
                self._samples.popleft()
                self._count_drop("samples")
            elif self._events:
                self._events.popleft()
                self._count_drop("events")
            else:
                return

    def _count_drop(self, kind: str) -> None:
        self.dropped[kind] += 1
        self._unreported[kind] += 1

    def _take_batch(self) -> list[_Message]:
        batch = [self._states[topic] for topic in self._dirty]
        self._dirty.clear()
        while self._events and len(batch) < _BATCH:
            batch.append(self._events.popleft())
        while self._samples and len(batch) < _BATCH:
            batch.append(self._samples.popleft())
        return batch

    def _restore(self, unsent: list[_Message]) -> None:
        """Put messages whose publish did not complete back at the front of the buffer."""
        for msg in reversed(unsent):
            if msg.kind == "state":
                self._dirty[msg.topic] = None
            elif msg.kind == "event":
                self._events.appendleft(msg)
            else:
                self._samples.appendleft(msg)
        self._enforce_bound()

    def _report_drops(self, force: bool = False) -> None:
        samples, events = self._unreported["samples"], self._unreported["events"]
        if not (samples or events):
            return
        now = time.monotonic()
        if not force and now - self._last_drop_report < _DROP_REPORT_INTERVAL_S:
            return
        self._unreported = {"samples": 0, "events": 0}
        self._last_drop_report = now
        self._seq += 1
        text = (
            f"Telemetry dropped {samples} samples and {events} events because its buffer of "
            f"{self._max} messages was full."
        )
        payload = _encode(
            {
                "samples": samples,
                "events": events,
                "total_samples": self.dropped["samples"],
                "total_events": self.dropped["events"],
                "seq": self._seq,
                "kind": "telemetry_dropped",
                "message": text,
            }
        )
        self._events.appendleft(_Message(f"{self.prefix}/events", payload, 1, False, "event"))
        log.warning(text)

    # ------------------------------------------------------------------ connection

    def _client(self) -> aiomqtt.Client:
        will = aiomqtt.Will(f"{self.prefix}/status", OFFLINE_WILL, qos=1, retain=True)
        client = aiomqtt.Client(
            self.config.host,
            self.config.port,
            username=self.config.username or None,
            password=self._password,
            identifier=self._client_id,
            will=will,
            keepalive=self.config.keepalive,
            timeout=self.config.publish_timeout_s,
            tls_context=self._tls_context,
            clean_session=True,
        )
        client.pending_calls_threshold = 2 * _BATCH  # a full batch in flight is normal
        return client

    async def _run(self) -> None:
        delay = self.config.reconnect_min_s
        while not self._stopping:
            self.attempts += 1
            try:
                async with self._client() as client:
                    if self.control_enabled:
                        await client.subscribe(f"{self.prefix}/control", qos=1)
                    self._on_connected()
                    delay = self.config.reconnect_min_s
                    await self._serve(client)
                if self._stopping:
                    return
            except aiomqtt.MqttError as exc:
                self._on_error(exc, delay)
            except Exception as exc:  # keep publishing whatever a library surprise was
                log.exception("Telemetry connection to %s failed", self.config.broker)
                self._on_error(aiomqtt.MqttError(f"{type(exc).__name__}: {exc}"), delay)
            finally:
                self.connected = False
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_requested.wait(), delay * random.uniform(0.8, 1))
            delay = min(delay * 2, self.config.reconnect_max_s)

    def _on_connected(self) -> None:
        self.connected = True
        self.connects += 1
        if self.error is not None:
            log.info("Telemetry connected to %s again.", self.config.broker)
        self.error = None
        self._lost_at = None
        self._last_reason = None
        for topic in self._states:  # the broker may have lost its retained copies
            self._dirty[topic] = None
        self._report_drops(force=True)
        self._wake.set()

    def _on_error(self, exc: aiomqtt.MqttError, delay: float) -> None:
        if self.connected:
            self._lost_at = _timestamp()
        reason = _describe(exc, self.config)
        if reason != self._last_reason:
            log.warning("Telemetry: %s.", reason)
            self._last_reason = reason
        if self._lost_at is not None:
            reason = f"Lost the connection at {self._lost_at}; {reason}"
        else:
            reason = reason[0].upper() + reason[1:]
        self.error = f"{reason}; retrying in {delay:.3g} s."

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Publish until the connection breaks (MqttError) or a stop has flushed everything."""
        listener = asyncio.create_task(self._listen(client))
        pump = asyncio.create_task(self._pump(client))
        try:
            done, _ = await asyncio.wait({listener, pump}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (listener, pump):
                task.cancel()
            await asyncio.gather(listener, pump, return_exceptions=True)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def _pump(self, client: aiomqtt.Client) -> None:
        while True:
            self._report_drops()
            batch = self._take_batch()
            if not batch:
                if self._stopping:
                    return
                self._wake.clear()
                if self._dirty or self._events or self._samples:
                    continue
                await self._wake.wait()
                continue
            await self._publish(client, batch)

    async def _publish(self, client: aiomqtt.Client, batch: list[_Message]) -> None:
        self._inflight = len(batch)
        timeout = self.config.publish_timeout_s
        tasks = [
            asyncio.create_task(
                client.publish(m.topic, m.payload, qos=m.qos, retain=m.retain, timeout=timeout)
            )
            for m in batch
        ]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            # Settle the books synchronously: a second cancellation must not lose messages.
            # Whatever had not completed counts as unsent (at worst it is sent twice).
            for task in tasks:
                task.cancel()
                task.add_done_callback(_retrieve)
            unsent = [m for m, t in zip(batch, tasks, strict=True) if not _succeeded(t)]
            self.published += len(batch) - len(unsent)
            self._inflight = 0
            self._restore(unsent)
            raise
        self._inflight = 0
        self.published += len(batch)

    # ------------------------------------------------------------------ control

    async def _listen(self, client: aiomqtt.Client) -> None:
        """Consume incoming messages; ends with MqttError when the connection drops."""
        async for message in client.messages:
            if self.control_enabled:
                self._on_control_message(message)

    def _on_control_message(self, message: aiomqtt.Message) -> None:
        if not message.payload:
            return  # an empty message clears a retained command; nothing to do
        try:
            command = _parse_control(message)
        except SchedulerError as exc:
            self.event("control_rejected", str(exc))
            if message.retain and message.payload:
                # Clear the retained command so it is not replayed on every reconnect.
                clear = _Message(str(message.topic), b"", 1, True, "event")
                self._events.append(clear)
                self._added()
            return
        if self._handler is None:
            self.event(
                "control_rejected",
                f"Control command {command.command} for job {command.job} was not handled: "
                "this daemon accepts no control commands yet.",
                **command.model_dump(),
            )
            return
        task = asyncio.create_task(self._dispatch(self._handler, command))
        self._control_tasks.add(task)
        task.add_done_callback(self._control_tasks.discard)

    async def _dispatch(self, handler: ControlHandler, command: ControlCommand) -> None:
        fields = command.model_dump()
        try:
            result = handler(command)
            if inspect.isawaitable(result):
                await result
        except SchedulerError as exc:
            self.event("control_rejected", str(exc), **fields)
            return
        except Exception as exc:
            log.exception("Control command %s failed", fields)
            self.event(
                "control_failed",
                f"Control command {command.command} for job {command.job} failed: {exc}",
                **fields,
            )
            return
        self.event(
            "control_accepted",
            f"Control command {command.command} for job {command.job} from {command.by} "
            "was accepted.",
            **fields,
        )


# ---------------------------------------------------------------------- helpers


def _parse_control(message: aiomqtt.Message) -> ControlCommand:
    where = f"Control message on {message.topic}"
    if message.retain:
        raise SchedulerError(f"{where} was retained; retained commands are ignored.")
    raw = message.payload
    if not isinstance(raw, bytes | bytearray | str):
        raise SchedulerError(f"{where} must be a JSON object with command, job and by.")
    if len(raw) > _MAX_CONTROL_BYTES:
        raise SchedulerError(f"{where} is larger than {_MAX_CONTROL_BYTES} bytes.")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise SchedulerError(f"{where} is not valid JSON.") from None
    if not isinstance(data, dict):
        raise SchedulerError(f"{where} must be a JSON object with command, job and by.")
    try:
        return ControlCommand.model_validate(data)
    except ValidationError as exc:
        raise SchedulerError(f"{where} rejected: {_explain(exc)}.") from None


def _retrieve(task: asyncio.Task[None]) -> None:
    """Mark a cancelled publish's outcome as seen (its error is the connection's, reported)."""
    if not task.cancelled():
        task.exception()


def _succeeded(task: asyncio.Task[None]) -> bool:
    return task.done() and not task.cancelled() and task.exception() is None


def _check_segment(name: str, what: str) -> None:
    if not isinstance(name, str) or not name or any(c in name for c in "/+#\0"):
        raise SchedulerError(
            f"The {what} {name!r} cannot be an MQTT topic segment (it must be non-empty and "
            "contain no '/', '+' or '#')."
        )


def _tls_context(config: TelemetryConfig) -> ssl.SSLContext:
    cafile = config.ca_file or None
    if cafile and not Path(cafile).is_file():
        raise SchedulerError(f"[telemetry] ca_file {cafile} does not exist.")
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        message = f"[telemetry] ca_file {cafile} is not a usable CA file: {exc}."
        raise SchedulerError(message) from None


def _describe(exc: aiomqtt.MqttError, config: TelemetryConfig) -> str:
    """What went wrong with which broker, as a clause for the health sentence."""
    broker = config.broker
    if isinstance(exc, MqttConnectError):
        reason = str(getattr(exc, "rc", "") or exc)
        lowered = reason.lower()
        credentials = ("password", "user name", "username", "authori")
        if any(word in lowered for word in credentials):
            # Mosquitto answers a wrong password with "not authorised" under MQTT 3.1.1.
            if not config.username:
                return (
                    f"MQTT broker {broker} refused an anonymous login: set username and "
                    "password_env in [telemetry]"
                )
            return (
                f"MQTT broker {broker} refused user {config.username!r}: wrong user name or "
                "password, or the user is not authorised"
            )
        return f"MQTT broker {broker} refused the connection: {reason}"
    cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
    text = re.sub(r"^\[code:\d+\]\s*", "", str(cause).strip()).rstrip(".")
    return f"cannot reach MQTT broker {broker}: {text or type(cause).__name__}"


def _timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _encode(fields: Mapping[str, Any]) -> bytes:
    body = {"v": PAYLOAD_VERSION, "ts": _timestamp()}
    body.update({k: _jsonable(v) for k, v in fields.items() if k not in body})
    return json.dumps(body, allow_nan=False, separators=(",", ":")).encode()


def _jsonable(value: Any) -> Any:
    """Plain JSON values; NaN and infinities become None, numpy and pint values are unwrapped."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return _jsonable(value.value)
    if hasattr(value, "magnitude") and hasattr(value, "units"):  # pint Quantity
        return {"value": _jsonable(value.magnitude), "unit": str(value.units)}
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return _jsonable(value.tolist())
    return str(value)
