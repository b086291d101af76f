"""Simulator errors: bad presets, unknown parameters, failed servers."""


class SimulatorError(Exception):
    """Base class for simulator and cell-model problems."""
