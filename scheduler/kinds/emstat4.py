"""PalmSens EmStat4 (MethodSCRIPT over serial or TCP): each step runs as one script on the
instrument, which evaluates the step's limits itself and keeps running without the host."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from drivers.potentiostats.emstat4 import EmStat4
from drivers.potentiostats.emstat4.scripts import MAX_CURRENT_A, TECHNIQUES, VOLTAGE_RANGE_V
from scheduler.kinds.base import (
    Capabilities,
    EndpointSettings,
    SimContext,
    SimulatedInstrument,
    endpoint_driver,
)
from scheduler.kinds.potentiostat import potentiostat_kind

# EIS from 10 µHz to 200 kHz, the range PalmSens states for the EmStat4 LR/HR. Unverified here:
# no PalmSens specification sheet was among the public references searched (the MethodSCRIPT
# manuals, PalmSens/MethodSCRIPT_Examples, the PalmSens SDK pages); the vendor's own EIS example
# scripts for the EmStat4 stay within it (MSLoopExample012-EIS.mscr: 100 kHz to 100 Hz).
# reference/instruments.md gives the current ranges (1 nA to 100 mA on the HR) but no
# frequency range. Whatever its exact top, it is far below the MHz some papers measured to.
EIS_FREQUENCY_HZ = (1e-5, 2e5)


class EmStat4Config(EndpointSettings):
    kind: Literal["emstat4"]
    invert_current: bool = False
    timeout_s: float = Field(5.0, gt=0)


def _simulator(config: EmStat4Config, context: SimContext) -> SimulatedInstrument:
    from simulators.emstat4 import EmStat4Simulator

    simulator = EmStat4Simulator(
        context.cell, clock=context.clock, serial=f"ES4HR-SIM-{context.index:04d}"
    )
    return SimulatedInstrument(simulator, {"endpoint": simulator})


KIND = potentiostat_kind(
    "PalmSens EmStat4",
    EmStat4Config,
    Capabilities(
        techniques=TECHNIQUES,
        on_device_limits=True,
        can_reattach=True,
        runs="step",
        channels=None,  # `set_pgstat_chan`: a MultiEmStat4 has several
        current_range_A=MAX_CURRENT_A,
        voltage_range_V=VOLTAGE_RANGE_V,
        eis_frequency_Hz=EIS_FREQUENCY_HZ,
        notes="Each step runs as one MethodSCRIPT on the instrument; after a lost "
        "connection the driver re-attaches and fetches the samples it missed.",
    ),
    {
        "drop": "clean connection drop now, or after `after` data packages",
        "drop-abrupt": "drop losing the lines in flight, after `after` packages (default 0)",
        "unplug": "clean drop with the port gone for 2 s, after `after` packages",
        "stall": "stop answering now (or after `after` packages) until 'clear'",
        "corrupt": "the data package after `after` more arrives corrupted",
        "error": "the running script fails with instrument error `code` (hex, default 4010)",
        "short": "the cell shorts after `after` packages",
        "open": "the cell circuit opens after `after` packages",
    },
    endpoint_driver(EmStat4, "timeout_s", "invert_current", channel=True, clock=True),
    _simulator,
)
