"""A simulated Neware BTS 8 host: the TCP/XML API in front of units × channels, each channel
running a step file on its own simulated cell.

Written from the documented API (reference/instruments.md 1.5) and step-file format
(reference/protocols.md); it shares no code with the driver it checks.
"""

from simulators.neware.channel import Channel, DataRecord
from simulators.neware.server import CORRUPTIONS, FAULTS, NewareSimulator
from simulators.neware.stepfile import StepFile, parse_step_file

__all__ = [
    "CORRUPTIONS",
    "FAULTS",
    "Channel",
    "DataRecord",
    "NewareSimulator",
    "StepFile",
    "parse_step_file",
]
