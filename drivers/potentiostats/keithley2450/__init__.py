"""Keithley 2450 SourceMeter driver: a galvanostat with host-side step loops."""

from drivers.potentiostats.keithley2450.driver import CellFault, HostClock, Keithley2450, WallClock

__all__ = ["CellFault", "HostClock", "Keithley2450", "WallClock"]
