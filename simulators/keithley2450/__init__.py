"""A wire-level Keithley 2450 SourceMeter simulator (SCPI over a raw TCP socket)."""

from simulators.keithley2450.server import Faults, Keithley2450Simulator

__all__ = ["Faults", "Keithley2450Simulator"]
