"""A PalmSens EmStat4 simulator speaking MethodSCRIPT over TCP or a pty.

Written from the documented protocol (see reference/instruments.md, section 1.1); it shares
no code with the driver it checks.
"""

from simulators.emstat4.server import EmStat4Simulator

__all__ = ["EmStat4Simulator"]
