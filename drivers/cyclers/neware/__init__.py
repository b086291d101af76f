"""Neware BTS 8 over its TCP/XML API (reference/instruments.md 1.5)."""

from drivers.cyclers.neware.host import MAX_PAGE, STATES, NewareHost
from drivers.cyclers.neware.replies import ChannelId, Live, Record, StepLayer

__all__ = ["MAX_PAGE", "STATES", "ChannelId", "Live", "NewareHost", "Record", "StepLayer"]
