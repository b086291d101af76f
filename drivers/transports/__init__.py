"""Async transports: raw TCP and serial (device path, pty or socket://)."""

from drivers.transports.lines import LineTransport, parse_endpoint

__all__ = ["LineTransport", "parse_endpoint"]
