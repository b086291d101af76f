"""How a driver reaches its instrument, as one settings object its transport keeps (`Link`).

Drivers and transports take the same keywords (`LinkSettings`); what a caller leaves out takes
the driver's default, and what the driver leaves out takes `Link`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict


class LinkSettings(TypedDict, total=False):
    """The keywords of a `Link`, any of which may be left out."""

    name: str
    baudrate: int
    timeout_s: float
    connect_timeout_s: float
    reconnect_attempts: int
    reconnect_delay_s: float


@dataclass(frozen=True)
class Link:
    """The name messages and the wire log use; the serial baud rate; how long a reply
    (`timeout_s`) and a connection may take; how often and how soon a lost link is redialled
    (the first delay, doubling after each failed attempt)."""

    name: str = "instrument"
    baudrate: int = 921600
    timeout_s: float = 5.0
    connect_timeout_s: float = 5.0
    reconnect_attempts: int = 3
    reconnect_delay_s: float = 0.2
