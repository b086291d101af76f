"""The Keithley 2450 driver's command strings against a static pyvisa-sim dialogue.

`simulators/keithley2450/pyvisa_sim.yaml` lists the documented native-SCPI commands; any
other string the driver sent would be answered with ERROR and break the next query. This
checks the driver without the dynamic simulator (QCoDeS-style conformance).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from drivers.errors import InstrumentError
from drivers.potentiostat import Sample, StepCommand, StepEnd, StepLimit
from drivers.potentiostats.keithley2450 import Keithley2450
from simulators.clock import SimClock

pytest.importorskip("pyvisa_sim")

import simulators.keithley2450 as sim_package

YAML = Path(sim_package.__file__).parent / "pyvisa_sim.yaml"
SMU = "TCPIP0::192.168.0.20::5025::SOCKET"
WRONG_MODE = "TCPIP0::192.168.0.21::5025::SOCKET"


def driver_for(resource: str) -> Keithley2450:
    return Keithley2450(
        resource, visa_backend=f"{YAML}@sim", timeout_s=1.0, clock=SimClock(math.inf)
    )


async def test_identify_through_the_static_dialogue() -> None:
    driver = driver_for(SMU)
    await driver.connect()
    try:
        identity = await driver.identify()
        assert (identity.model, identity.serial, identity.firmware) == (
            "2450",
            "04401234",
            "1.7.12b",
        )
        assert await driver.transport.query(":OUTP:CURR:SMOD?") == "HIMP"  # set on connect
    finally:
        await driver.close()


async def test_the_2400_emulation_mode_is_refused() -> None:
    driver = driver_for(WRONG_MODE)
    with pytest.raises(InstrumentError, match="uses the SCPI2400 command set; switch it to SCPI"):
        await driver.connect()
    await driver.close()


async def test_a_step_uses_only_documented_commands() -> None:
    driver = driver_for(SMU)
    await driver.connect()
    try:
        cutoff = StepLimit("voltage", "<=", 3.0)
        command = StepCommand(
            "cc", duration_s=20, current_A=-1e-3, limits=(cutoff,), sample_interval_s=10
        )
        items = [item async for item in driver.run(command)]
        assert isinstance(items[-1], StepEnd) and items[-1].reason == "time"
        assert sum(isinstance(item, Sample) for item in items) == 3
        # the static reading is 3.9 V at 0 A, so the step's VLIM was 3.9 V + 50 mV
        assert driver._vlim_V == pytest.approx(3.95, abs=1e-3)
        # after the step: 0 A, output on, VLIM back at the 5 V ceiling + margin
        assert float(await driver.transport.query(":SOUR:CURR?")) == 0.0
        assert float(await driver.transport.query(":SOUR:CURR:VLIM?")) == pytest.approx(5.05)
        assert await driver.transport.query(":OUTP?") in ("1", "ON")
        await driver.safe()
        assert await driver.transport.query(":OUTP?") in ("0", "OFF")
    finally:
        await driver.close()
