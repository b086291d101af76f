"""The outage buffer between telemetry's producers and its one publishing task.

Producers never wait for the network: each message goes into this bounded buffer, and the
publisher takes batches out. While the broker is away the buffer keeps filling; when it is
full the oldest samples go first, then the oldest events, and retained state is never
dropped (only its latest value per topic is kept, and all of it is sent again after every
reconnect, since the broker may have lost its retained copies). What was dropped is counted
so that a ``telemetry_dropped`` event can say how much was lost.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Literal

DROP_REPORT_INTERVAL_S = 1.0


@dataclass(slots=True)
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    kind: Literal["state", "event", "sample"]


class OutageBuffer:
    """Messages waiting for the broker; never more than `limit` plus the state topics."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.states: dict[str, Message] = {}
        self.dirty: dict[str, None] = {}  # topics whose latest state is not yet published
        self.events: deque[Message] = deque()
        self.samples: deque[Message] = deque()
        self.inflight = 0
        self.dropped: dict[str, int] = {"samples": 0, "events": 0}
        self.peak = 0
        self._unreported = {"samples": 0, "events": 0}
        self._last_drop_report = 0.0

    @property
    def buffered(self) -> int:
        """Messages waiting or in flight."""
        return len(self.samples) + len(self.events) + len(self.dirty) + self.inflight

    @property
    def waiting(self) -> bool:
        return bool(self.dirty or self.events or self.samples)

    def put(self, message: Message) -> None:
        """Queue a message; a state replaces the earlier state of its topic."""
        if message.kind == "state":
            self.states[message.topic] = message
            self.dirty[message.topic] = None
        else:
            self._lane(message).append(message)
        self._enforce_bound()
        self.peak = max(self.peak, self.buffered)

    def put_first(self, event: Message) -> None:
        """Queue an event ahead of all others (the drop report)."""
        self.events.appendleft(event)

    def resend_states(self) -> None:
        for topic in self.states:
            self.dirty[topic] = None

    def take_batch(self, size: int) -> list[Message]:
        """All unsent states, then events, then samples, up to `size` of the latter two."""
        batch = [self.states[topic] for topic in self.dirty]
        self.dirty.clear()
        while self.events and len(batch) < size:
            batch.append(self.events.popleft())
        while self.samples and len(batch) < size:
            batch.append(self.samples.popleft())
        return batch

    def restore(self, unsent: list[Message]) -> None:
        """Put messages whose publish did not complete back at the front of the buffer."""
        for msg in reversed(unsent):
            if msg.kind == "state":
                self.dirty[msg.topic] = None
            else:
                self._lane(msg).appendleft(msg)
        self._enforce_bound()

    def drops_to_report(self, force: bool = False) -> tuple[int, int] | None:
        """(samples, events) dropped since the last report, at most once a second."""
        samples, events = self._unreported["samples"], self._unreported["events"]
        if not (samples or events):
            return None
        now = time.monotonic()
        if not force and now - self._last_drop_report < DROP_REPORT_INTERVAL_S:
            return None
        self._unreported = {"samples": 0, "events": 0}
        self._last_drop_report = now
        return samples, events

    def _lane(self, message: Message) -> deque[Message]:
        return self.events if message.kind == "event" else self.samples

    def _enforce_bound(self) -> None:
        while self.buffered > self.limit:
            if self.samples:
                self.samples.popleft()
                self._count_drop("samples")
            elif self.events:
                self.events.popleft()
                self._count_drop("events")
            else:
                return

    def _count_drop(self, kind: str) -> None:
        self.dropped[kind] += 1
        self._unreported[kind] += 1
