"""The telemetry topic tree and payload encoding: what a dashboard subscribes to and reads.

Topic tree (``<bench>`` is the bench name)::

    cellbench/v1/<bench>/status              retained, QoS 1; last will {"v": 1, "state": "offline"}
    cellbench/v1/<bench>/slot/<slot>/state   retained, QoS 1
    cellbench/v1/<bench>/slot/<slot>/data    QoS 0, dropped first when the buffer is full
    cellbench/v1/<bench>/events              QoS 1, carries a per-process "seq" for de-duplication
    cellbench/v1/<bench>/control             subscribed only with control = true and a username

Payloads are JSON objects with ``"v": 1`` and ``"ts"`` (UTC, ISO 8601 with ms) plus the caller's
fields; NaN and infinities become ``null``, numpy values are unwrapped and pint quantities become
``{"value", "unit"}``. The reserved keys (v, ts, state, slot, seq, kind, message) win over fields
of the same name: callers put them last.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from scheduler.errors import SchedulerError
from scheduler.jsonable import jsonable

TOPIC_ROOT = "cellbench/v1"
PAYLOAD_VERSION = 1
OFFLINE_WILL = json.dumps({"v": PAYLOAD_VERSION, "state": "offline"}).encode()


class Topics:
    """The topics of one bench."""

    def __init__(self, bench: str) -> None:
        check_segment(bench, "bench name")
        self.prefix = f"{TOPIC_ROOT}/{bench}"
        self.status = f"{self.prefix}/status"
        self.events = f"{self.prefix}/events"
        self.control = f"{self.prefix}/control"

    def slot_state(self, slot: str) -> str:
        check_segment(slot, "slot name")
        return f"{self.prefix}/slot/{slot}/state"

    def slot_data(self, slot: str) -> str:
        check_segment(slot, "slot name")
        return f"{self.prefix}/slot/{slot}/data"


def check_segment(name: str, what: str) -> None:
    """A bench or slot name must be one topic level, without MQTT's wildcards."""
    if not isinstance(name, str) or not name or any(c in name for c in "/+#\0"):
        raise SchedulerError(
            f"The {what} {name!r} cannot be an MQTT topic segment (it must be non-empty and "
            "contain no '/', '+' or '#')."
        )


def timestamp() -> str:
    """Now, in UTC, as ISO 8601 with milliseconds and a Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode(fields: Mapping[str, Any]) -> bytes:
    """One payload: version and time first, then the fields as plain JSON."""
    body = {"v": PAYLOAD_VERSION, "ts": timestamp()}
    body.update({k: jsonable(v) for k, v in fields.items() if k not in body})
    return json.dumps(body, allow_nan=False, separators=(",", ":")).encode()
