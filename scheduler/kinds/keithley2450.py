"""Keithley 2450 SourceMeter (SCPI over VISA) as a galvanostat: a DC instrument, so no EIS,
and steps run as a host-side loop that reads the SMU every sample interval."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

from pydantic import Field

from drivers.potentiostats.keithley2450 import Keithley2450
from drivers.potentiostats.keithley2450.driver import MAX_CURRENT_A, TECHNIQUES, VOLTAGE_RANGE_V
from scheduler.endpoints import check_visa_resource, tcp_address
from scheduler.kinds.base import (
    Capabilities,
    EndpointSettings,
    SimContext,
    SimulatedInstrument,
    endpoint_driver,
)
from scheduler.kinds.potentiostat import potentiostat_kind


class Keithley2450Config(EndpointSettings):
    kind: Literal["keithley2450"]
    endpoint_rule = check_visa_resource
    four_wire: bool = True
    nplc: float = Field(1.0, ge=0.01, le=10.0)
    max_voltage_V: float = Field(5.0, gt=0, le=200.0)
    timeout_s: float = Field(5.0, gt=0)


def _simulator(config: Keithley2450Config, context: SimContext) -> SimulatedInstrument:
    from simulators.keithley2450 import Keithley2450Simulator

    simulator = Keithley2450Simulator(
        context.cell, clock=context.clock, serial=f"0451{context.index:04d}", seed=context.index
    )
    return SimulatedInstrument(simulator, {"endpoint": simulator})


def _simulation_problems(name: str, config: Keithley2450Config, slots: list[Any]) -> list[str]:
    if tcp_address(config.endpoint) is not None:
        return []
    return [
        f"instruments.{name}.endpoint: the Keithley 2450 simulator serves only "
        "TCPIP0::host::port::SOCKET resources"
    ]


def _configured(config: Keithley2450Config, capabilities: Capabilities) -> Capabilities:
    """The voltage compliance the bench file sets (max_voltage_V) bounds every step."""
    return replace(capabilities, compliance_V=config.max_voltage_V)


KIND = potentiostat_kind(
    "Keithley 2450",
    Keithley2450Config,
    Capabilities(
        techniques=TECHNIQUES,
        on_device_limits=False,
        can_reattach=False,
        runs="host",
        channels=1,
        current_range_A=MAX_CURRENT_A,  # ±1.05 A (pymeasure's validators)
        voltage_range_V=VOLTAGE_RANGE_V,  # ±200 V source (qcodes)
        compliance_V=VOLTAGE_RANGE_V[1],
        compliance_setting="max_voltage_V",
        eis_frequency_Hz=None,  # a DC SourceMeter
        notes="A DC SourceMeter used as a galvanostat: a host-side loop, no EIS; a lost "
        "connection switches the output off.",
    ),
    {
        "drop": "cut the host connection now",
        "stall": "go silent for `value` wall seconds (default 5)",
        "error": "queue instrument error `code` (default -113) with `message`",
        "corrupt": "garble the reply to the `after`-th next :READ? (default 0)",
    },
    endpoint_driver(Keithley2450, "timeout_s", "four_wire", "nplc", "max_voltage_V", clock=True),
    _simulator,
    configured=_configured,
    simulation_problems=_simulation_problems,
)
