"""ESPEC, Mark-10 and Alicat share one way to be reached: class defaults, caller overrides."""

from __future__ import annotations

from drivers.chambers.espec import EspecChamber
from drivers.pressure.alicat import AlicatPC
from drivers.pressure.mark10 import Mark10Gauge
from drivers.transports.delimited import DelimitedTransport


def test_each_driver_has_its_own_link_defaults() -> None:
    espec = EspecChamber("tcp://127.0.0.1:1")
    gauge = Mark10Gauge("/dev/ttyUSB0")
    alicat = AlicatPC("tcp://127.0.0.1:1")
    assert (espec.name, espec.transport.baudrate, espec.transport.timeout_s) == (
        "ESPEC chamber",
        9600,
        3.0,
    )
    assert (gauge.name, gauge.transport.baudrate, gauge.transport.newline) == (
        "Mark-10 gauge",
        115200,
        "\r\n",
    )
    assert isinstance(alicat.transport, DelimitedTransport)
    assert alicat.transport.separator == b"\r" and alicat.transport.newline == "\r"
    assert alicat.reconnect_attempts == 3


def test_the_caller_overrides_any_default() -> None:
    espec = EspecChamber(
        "tcp://127.0.0.1:1", name="chamberB", baudrate=19200, timeout_s=0.5, reconnect_attempts=1
    )
    assert espec.name == espec.transport.name == "chamberB"
    assert (espec.transport.baudrate, espec.transport.timeout_s) == (19200, 0.5)
    assert espec.reconnect_attempts == 1
