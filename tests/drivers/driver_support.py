"""Shared steps of the potentiostat driver tests: run a step to its end, or abort it midway."""

from __future__ import annotations

from typing import Any

from drivers.potentiostat import ImpedancePoint, Sample, StepCommand, StepEnd


async def collect(driver: Any, command: StepCommand) -> tuple[list[Any], StepEnd]:
    """Run one step to its end: its readings (samples, or impedance points), and the StepEnd
    that comes last."""
    items = [item async for item in driver.run(command)]
    *readings, end = items
    assert isinstance(end, StepEnd)
    assert all(isinstance(r, Sample | ImpedancePoint) for r in readings), readings
    return readings, end


async def abort_after(driver: Any, command: StepCommand, count: int = 5) -> tuple[int, StepEnd]:
    """Run a step and abort it at its `count`-th sample: (samples seen, the StepEnd)."""
    seen = 0
    end = None
    async for item in driver.run(command):
        if isinstance(item, Sample):
            seen += 1
            if seen == count:
                await driver.abort()
        else:
            end = item
    assert isinstance(end, StepEnd)
    return seen, end
