"""MQTT telemetry: live bench state for dashboards, never in the way of a run.

The database is the system of record; telemetry is a best-effort mirror of it. Producers never
touch the network: they serialise a message and put it in a bounded buffer
(`scheduler.telemetry_buffer`) that one background task drains into an ``aiomqtt.Client``. When
the broker goes away the task reconnects on the project's backoff (`drivers.retry`: from
``reconnect_min_s`` doubling to ``reconnect_max_s``, 20 % jitter, the shortest wait again after a
connection that came up) while the buffer keeps filling. After every (re)connect all retained
state is published again and a ``telemetry_dropped`` event says how much was lost. The topics
and payloads are described in `scheduler.telemetry_topics`. Events are delivered at least
once; their "seq" lets a subscriber drop repeats.

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

Control commands (`scheduler.telemetry_control`) are handed to the registered handler, and a
``control_accepted`` event confirms each one it took. A handler may raise SchedulerError to
refuse a command; that sentence is published as a ``control_rejected`` event (any other
exception becomes ``control_failed``). Malformed and retained control messages are answered
with ``control_rejected`` and never reach the handler (a retained one is also cleared). Enable
control only on a broker whose ACL restricts who may publish to that topic.

``TelemetryConfig`` may also be nested in a larger pydantic model (the bench file): its checks
raise ValueError, so the outer model reports the key path.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import re
import ssl
from pathlib import Path
from typing import Any

import aiomqtt
from aiomqtt.exceptions import MqttConnectError
from tenacity import AttemptManager

from drivers.retry import backoff, start_over
from scheduler.errors import SchedulerError
from scheduler.telemetry_buffer import Message, OutageBuffer
from scheduler.telemetry_config import TelemetryConfig
from scheduler.telemetry_control import ControlCommand, ControlHandler, parse_control
from scheduler.telemetry_topics import OFFLINE_WILL, Topics, encode, timestamp

__all__ = ["ControlCommand", "ControlHandler", "Telemetry", "TelemetryConfig"]

log = logging.getLogger(__name__)

_BATCH = 64  # messages published concurrently; bounds what is in flight
RECONNECT_JITTER = 0.2  # each wait is 80-100 % of the backoff delay


class Telemetry:
    """Publishes a bench's status, slot state, samples and events to MQTT; see module docs."""

    def __init__(self, config: TelemetryConfig, bench_name: str) -> None:
        self.topics = Topics(bench_name)
        self.config = config
        self.bench_name = bench_name
        self.prefix = self.topics.prefix
        self._password = config.password()
        self._tls_context = _tls_context(config) if config.tls else None
        self._client_id = config.client_id or f"cellbench-{bench_name}-{os.getpid()}"
        self.buffer = OutageBuffer(config.buffer)
        self._wake = asyncio.Event()
        self._seq = 0

        self.connected = False
        self.error: str | None = None
        self.published = 0
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
        self._put(Message(self.topics.status, encode({**fields, "state": state}), 1, True, "state"))

    def slot_state(self, slot: str, **fields: Any) -> None:
        """Set a slot's retained state (job, step, cycle, alarms...)."""
        topic = self.topics.slot_state(slot)
        self._put(Message(topic, encode({**fields, "slot": slot}), 1, True, "state"))

    def sample(self, slot: str, **fields: Any) -> None:
        """Queue one live data point of a slot (QoS 0; the first thing dropped under pressure)."""
        topic = self.topics.slot_data(slot)
        self._put(Message(topic, encode({**fields, "slot": slot}), 0, False, "sample"))

    def event(self, kind: str, message: str, **fields: Any) -> None:
        """Queue an event (QoS 1, at least once): safety trips, reconnects, operator actions."""
        self._seq += 1
        payload = encode({**fields, "seq": self._seq, "kind": kind, "message": message})
        self._put(Message(self.topics.events, payload, 1, False, "event"))

    def on_control(self, handler: ControlHandler) -> None:
        """Register the daemon's handler for control commands (used only with control on)."""
        self._handler = handler

    def _put(self, message: Message) -> None:
        self.buffer.put(message)
        self._wake.set()

    # ------------------------------------------------------------------ health

    @property
    def buffered(self) -> int:
        """Messages waiting or in flight; never more than ``config.buffer`` plus state topics."""
        return self.buffer.buffered

    @property
    def peak_buffered(self) -> int:
        return self.buffer.peak

    @property
    def dropped(self) -> dict[str, int]:
        """Samples and events dropped from a full buffer since start."""
        return self.buffer.dropped

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
            "buffer": self.buffer.limit,
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

    # ------------------------------------------------------------------ connection

    def _client(self) -> aiomqtt.Client:
        will = aiomqtt.Will(self.topics.status, OFFLINE_WILL, qos=1, retain=True)
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
        """Stay connected until stopped: one session per connection, redialled on backoff."""
        retrying = backoff(
            f"telemetry to {self.config.broker}",
            retry_on=aiomqtt.MqttError,
            first_delay_s=self.config.reconnect_min_s,
            max_delay_s=self.config.reconnect_max_s,
            jitter=RECONNECT_JITTER,
            until=lambda: self._stopping,
            sleep=self._pause,
            on_retry=self._on_error,
            level=logging.DEBUG,  # _on_error warns once per new reason
        )
        with contextlib.suppress(aiomqtt.MqttError):  # the last error, once a stop ends retries
            async for attempt in retrying:
                with attempt:
                    await self._session(attempt)

    async def _session(self, attempt: AttemptManager) -> None:
        """Connect, publish until the connection breaks (MqttError) or a stop has flushed."""
        if self._stopping:
            return
        self.attempts += 1
        try:
            async with self._client() as client:
                if self.control_enabled:
                    await client.subscribe(self.topics.control, qos=1)
                self._on_connected()
                start_over(attempt)  # the next wait after this connection is the shortest
                await self._serve(client)
        except Exception as exc:
            if self.connected:
                self._lost_at = timestamp()
            if isinstance(exc, aiomqtt.MqttError):
                raise
            # keep publishing whatever a library surprise was
            log.exception("Telemetry connection to %s failed", self.config.broker)
            raise aiomqtt.MqttError(f"{type(exc).__name__}: {exc}") from None
        finally:
            self.connected = False
        if not self._stopping:
            raise aiomqtt.MqttError("the broker ended the connection")

    async def _pause(self, seconds: float) -> None:
        """The wait before the next dial; stop() cuts it short."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_requested.wait(), seconds)

    def _on_connected(self) -> None:
        self.connected = True
        self.connects += 1
        if self.error is not None:
            log.info("Telemetry connected to %s again.", self.config.broker)
        self.error = None
        self._lost_at = None
        self._last_reason = None
        self.buffer.resend_states()  # the broker may have lost its retained copies
        self._report_drops(force=True)
        self._wake.set()

    def _on_error(self, exc: BaseException, wait_s: float) -> None:
        reason = _describe(exc, self.config)
        if reason != self._last_reason:
            log.warning("Telemetry: %s.", reason)
            self._last_reason = reason
        if self._lost_at is not None:
            reason = f"Lost the connection at {self._lost_at}; {reason}"
        else:
            reason = reason[0].upper() + reason[1:]
        self.error = f"{reason}; retrying in {wait_s:.3g} s."

    def _report_drops(self, force: bool = False) -> None:
        counts = self.buffer.drops_to_report(force)
        if counts is None:
            return
        samples, events = counts
        self._seq += 1
        text = (
            f"Telemetry dropped {samples} samples and {events} events because its buffer of "
            f"{self.buffer.limit} messages was full."
        )
        payload = encode(
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
        self.buffer.put_first(Message(self.topics.events, payload, 1, False, "event"))
        log.warning(text)

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
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error

    async def _pump(self, client: aiomqtt.Client) -> None:
        while True:
            self._report_drops()
            batch = self.buffer.take_batch(_BATCH)
            if not batch:
                if self._stopping:
                    return
                self._wake.clear()
                if self.buffer.waiting:
                    continue
                await self._wake.wait()
                continue
            await self._publish(client, batch)

    async def _publish(self, client: aiomqtt.Client, batch: list[Message]) -> None:
        self.buffer.inflight = len(batch)
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
            self.buffer.inflight = 0
            self.buffer.restore(unsent)
            raise
        self.buffer.inflight = 0
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
            command = parse_control(message)
        except SchedulerError as exc:
            self.event("control_rejected", str(exc))
            if message.retain and message.payload:
                # Clear the retained command so it is not replayed on every reconnect.
                self._put(Message(str(message.topic), b"", 1, True, "event"))
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


def _retrieve(task: asyncio.Task[None]) -> None:
    """Mark a cancelled publish's outcome as seen (its error is the connection's, reported)."""
    if not task.cancelled():
        task.exception()


def _succeeded(task: asyncio.Task[None]) -> bool:
    return task.done() and not task.cancelled() and task.exception() is None


def _tls_context(config: TelemetryConfig) -> ssl.SSLContext:
    cafile = config.ca_file or None
    if cafile and not Path(cafile).is_file():
        raise SchedulerError(f"[telemetry] ca_file {cafile} does not exist.")
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        message = f"[telemetry] ca_file {cafile} is not a usable CA file: {exc}."
        raise SchedulerError(message) from None


def _describe(exc: BaseException, config: TelemetryConfig) -> str:
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
