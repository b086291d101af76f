"""Instrument endpoints as a bench file writes them: checking them, and moving TCP ones to
another port.

An endpoint is a serial path (`/dev/ttyUSB0`, `serial:///dev/ttyUSB0`), a TCP address
(`tcp://host:port`, `socket://host:port`, Modbus `host:port`) or a VISA resource
(`TCPIP0::host::5025::SOCKET`). Port 0 means "pick a free port": only `cellbench sim --bench`
accepts it (it binds real ports and writes the resolved bench file for clients).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from pydantic import ValidationInfo

FREE_PORT_HINT = (
    "port 0 ('pick a free port') is only for `cellbench sim --bench`; point clients at the "
    "file it writes with --write-bench"
)


def free_ports_allowed(info: ValidationInfo) -> bool:
    """Whether the bench is being loaded by `cellbench sim --bench` (port 0 allowed)."""
    return bool(info.context and info.context.get("free_ports"))


def port_of(parsed: Any) -> int | None:
    """The port of a parsed URL, or None when it has none or it is not a number."""
    try:
        return parsed.port
    except ValueError:
        return None


def check_line_endpoint(text: str, free_ports: bool = False) -> str:
    """A serial path, serial:///dev/…, tcp://host:port or socket://host:port."""
    from drivers.errors import InstrumentError
    from drivers.transports import parse_endpoint

    parsed = urlparse(text.strip())
    if parsed.scheme in ("tcp", "socket") and parsed.hostname and port_of(parsed) == 0:
        if free_ports:
            return text.strip()
        raise ValueError(f"endpoint {text!r}: {FREE_PORT_HINT}")
    try:
        parse_endpoint(text)
    except InstrumentError as exc:
        raise ValueError(str(exc)) from None
    return text.strip()


def check_modbus_endpoint(text: str, free_ports: bool = False) -> str:
    """tcp://host:port, modbus://host:port or host:port (the Watlow F4T's Modbus TCP)."""
    from drivers.chambers.watlow_f4t import parse_modbus_endpoint
    from drivers.errors import InstrumentError

    try:
        _, port = parse_modbus_endpoint(text)
    except InstrumentError as exc:
        raise ValueError(str(exc)) from None
    except ValueError:
        raise ValueError(f"Modbus endpoint {text!r} has a port that is not a number") from None
    if port == 0 and not free_ports:
        raise ValueError(f"endpoint {text!r}: {FREE_PORT_HINT}")
    return text.strip()


def check_visa_resource(text: str, free_ports: bool = False) -> str:
    """A VISA resource string, as pyvisa parses it."""
    from pyvisa import rname

    try:
        resource = rname.parse_resource_name(text.strip())
    except Exception:
        raise ValueError(
            f"{text!r} is not a VISA resource such as TCPIP0::192.168.0.20::5025::SOCKET, "
            "USB0::0x05E6::0x2450::<serial>::INSTR or GPIB0::18::INSTR"
        ) from None
    socket = getattr(resource, "resource_class", "") == "SOCKET"
    if socket and str(getattr(resource, "port", "")) == "0":
        if not free_ports:
            raise ValueError(f"resource {text!r}: {FREE_PORT_HINT}")
    return text.strip()


def with_port(endpoint: str, port: int) -> str:
    """The same endpoint on another TCP port (tcp://, socket://, modbus://, host:port, VISA)."""
    if "::" in endpoint:
        parts = endpoint.split("::")
        if len(parts) >= 4 and parts[-1].upper() == "SOCKET":
            parts[-2] = str(port)
            return "::".join(parts)
        return endpoint
    has_scheme = "://" in endpoint
    parsed = urlparse(endpoint if has_scheme else f"tcp://{endpoint}")
    if not parsed.hostname or parsed.scheme == "serial":
        return endpoint
    new = parsed._replace(netloc=f"{parsed.hostname}:{port}").geturl()
    return new if has_scheme else new.removeprefix("tcp://")


def tcp_address(endpoint: str) -> tuple[str, int] | None:
    """(host, port) of a TCP-like endpoint, or None for serial paths and non-socket VISA."""
    if "::" in endpoint:
        parts = endpoint.split("::")
        if len(parts) >= 4 and parts[0].upper().startswith("TCPIP") and parts[-1] == "SOCKET":
            return parts[1], int(parts[2])
        return None
    if endpoint.startswith("/") or endpoint.startswith("serial:"):
        return None
    parsed = urlparse(endpoint if "://" in endpoint else f"tcp://{endpoint}")
    if not parsed.hostname:
        return None
    return parsed.hostname, parsed.port if parsed.port is not None else 502
