"""PalmSens EmStat4 driver (MethodSCRIPT over serial or TCP)."""

from drivers.potentiostats.emstat4.driver import EmStat4
from drivers.potentiostats.emstat4.packages import PackageValue, parse_package

__all__ = ["EmStat4", "PackageValue", "parse_package"]
