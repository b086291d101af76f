"""Neware BTS 8 (TCP/XML API to the BTS host): a multi-channel cycler that runs whole
schedules. Its channels are slots (`channel = N` in a slot, counted unit by unit from 1; a
slot's default `channel = 0` means channel 1); the
scheduler writes each job's bound plan as a step file into `step_dir` (a folder the BTS
host reads: on the host PC itself, or shared with it), starts the channel and downloads the
records. One connection serves every channel of the host."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from drivers.cyclers.neware.channel import NewareChannel
from scheduler.endpoints import tcp_address
from scheduler.kinds.base import Capabilities, EndpointSettings, SimContext, SimulatedInstrument
from scheduler.kinds.potentiostat import potentiostat_kind
from scheduler.neware_schedule import schedule_problems

# A BTS 8 channel: 0–5 V (CT-4008 class); its current rating is set per host (`max_current_A`).
VOLTAGE_RANGE_V = (0.0, 5.0)


class NewareConfig(EndpointSettings):
    kind: Literal["neware"]
    units: int = Field(1, ge=1, le=64)
    channels: int = Field(8, ge=1, le=64)  # per unit
    devid: int = Field(1, ge=1)
    max_current_A: float = Field(0.01, gt=0, le=1000)
    step_dir: str = ""  # where step files are written for the BTS host to read
    timeout_s: float = Field(10.0, gt=0)
    username: str = "admin"
    password: str = "neware"
    poll_s: float = Field(2.0, gt=0)  # wall seconds between downloads of a running channel

    def step_folder(self) -> Path:
        import tempfile

        return (
            Path(self.step_dir)
            if self.step_dir
            else Path(tempfile.gettempdir()) / "cellbench-neware"
        )


def _driver(config: NewareConfig, name: str, clock: Any, channel: int) -> NewareChannel:
    return NewareChannel(
        config.endpoint,
        name=name,
        number=max(channel, 1),
        channels=config.channels,
        timeout_s=config.timeout_s,
        username=config.username,
        password=config.password,
        max_current_A=config.max_current_A,
        voltage_range_V=VOLTAGE_RANGE_V,
        step_dir=str(config.step_folder()),
        poll_s=config.poll_s,
    )


def _simulator(config: NewareConfig, context: SimContext) -> SimulatedInstrument:
    from simulators.neware import NewareSimulator

    cells = {}
    for slot in context.slots:
        number = max(getattr(slot, "channel", 1), 1)
        cell = context.cells.get(slot.name, context.cell)
        cells[((number - 1) // config.channels + 1, (number - 1) % config.channels + 1)] = cell
    if not cells and context.cell is not None:
        cells[(1, 1)] = context.cell
    simulator = NewareSimulator(
        cells,
        clock=context.clock,
        units=config.units,
        channels=config.channels,
        devid=config.devid,
        max_current_A=config.max_current_A,
    )
    return SimulatedInstrument(simulator, {"endpoint": simulator})


def _simulation_problems(name: str, config: NewareConfig, slots: list[Any]) -> list[str]:
    out = []
    if tcp_address(config.endpoint) is None:
        out.append(f"instruments.{name}.endpoint: the BTS host is reached at tcp://host:port")
    taken: dict[int, str] = {}
    for slot in slots:
        number = max(slot.channel, 1)
        if number > config.units * config.channels:
            out.append(
                f"slots {slot.name}: channel {number} is beyond {name}'s "
                f"{config.units} × {config.channels} channels"
            )
        elif number in taken:
            out.append(f"slots {slot.name} and {taken[number]} both use {name} channel {number}")
        taken[number] = slot.name
    return out


def _configured(config: NewareConfig, capabilities: Capabilities) -> Capabilities:
    return replace(
        capabilities,
        current_range_A=config.max_current_A,
        channels=config.units * config.channels,
    )


KIND = potentiostat_kind(
    "Neware BTS",
    NewareConfig,
    Capabilities(
        techniques=frozenset({"rest", "cc", "cv", "pulse_train"}),
        on_device_limits=True,
        can_reattach=True,
        runs="schedule",
        channels=None,  # units × channels of the host, from the bench file
        current_range_A=0.01,
        voltage_range_V=VOLTAGE_RANGE_V,
        eis_frequency_Hz=None,
        notes="Runs the whole bound protocol as a step file on the cycler; the host "
        "downloads the records by index and re-attaches after a restart.",
    ),
    {
        "drop": "cut the host connections now (the channels run on)",
        "stall": "stop answering until 'clear'",
        "protect": "channel `channel` (devid-unit-chl, or its number) goes to protect",
        "pause": "channel `channel` is paused at the BTS host",
        "corrupt": "spoil the next reply (to `command`) as `mode` says: truncate, count, "
        "entity or channel",
    },
    _driver,
    _simulator,
    configured=_configured,
    simulation_problems=_simulation_problems,
    schedule_problems=schedule_problems,
)
