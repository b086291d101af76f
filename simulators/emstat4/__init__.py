"""A PalmSens EmStat4 simulator speaking MethodSCRIPT over TCP or a pty.

Written from the documented protocol (see reference/instruments.md, section 1.1); it shares
no code with the driver it checks.
"""

from simulators.emstat4.faults import FAULT_KINDS, Faults, FaultSpec, parse_fault
from simulators.emstat4.server import EmStat4Simulator

__all__ = ["FAULT_KINDS", "EmStat4Simulator", "FaultSpec", "Faults", "parse_fault"]
