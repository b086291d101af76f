"""Operator commands that arrive on a bench's MQTT control topic, and how they are checked.

A command is ``{"command": "pause"|"resume"|"cancel"|"ack", "job": N, "by": "..."}``; "ack" is
the operator's acknowledgement that lets an interrupted job resume. Anything else (not JSON,
too large, unknown fields, a retained message) is refused with one sentence, which telemetry
publishes as a ``control_rejected`` event.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Literal

import aiomqtt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scheduler.errors import SchedulerError, explain

MAX_CONTROL_BYTES = 4096


class ControlCommand(BaseModel):
    """One operator command received on the control topic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    command: Literal["pause", "resume", "cancel", "ack"]
    job: int = Field(ge=1)
    by: str = Field(min_length=1, max_length=200)


ControlHandler = Callable[[ControlCommand], Awaitable[None] | None]


def parse_control(message: aiomqtt.Message) -> ControlCommand:
    """The command a control message carries; SchedulerError saying why it is refused."""
    where = f"Control message on {message.topic}"
    if message.retain:
        raise SchedulerError(f"{where} was retained; retained commands are ignored.")
    raw = message.payload
    if not isinstance(raw, bytes | bytearray | str):
        raise SchedulerError(f"{where} must be a JSON object with command, job and by.")
    if len(raw) > MAX_CONTROL_BYTES:
        raise SchedulerError(f"{where} is larger than {MAX_CONTROL_BYTES} bytes.")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise SchedulerError(f"{where} is not valid JSON.") from None
    if not isinstance(data, dict):
        raise SchedulerError(f"{where} must be a JSON object with command, job and by.")
    try:
        return ControlCommand.model_validate(data)
    except ValidationError as exc:
        raise SchedulerError(f"{where} rejected: {explain(exc)}.") from None
