"""What one instrument-kind registration declares (`InstrumentKind`), and what it can do as
data (`Capabilities`).

The bench file, the instrument pool, the simulated bench, submission checks and the daemon
all ask a kind's registration; none of them knows the kinds by name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from scheduler.endpoints import check_line_endpoint, free_ports_allowed

Role = Literal["potentiostat", "chamber", "rig"]
ROLES: tuple[Role, ...] = get_args(Role)
Runs = Literal["host", "step", "schedule"]

LINK_FAULTS = {
    "drop": "cut the host connections now (the instrument keeps its state)",
    "stall": "stop answering (until 'clear')",
}


class Strict(BaseModel):
    """A bench-file table: unknown keys are errors, values are frozen once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class InstrumentSettings(Strict):
    """The bench-file table of one instrument (`[instruments.<name>]`); `kind` says which."""

    kind: str


class EndpointSettings(InstrumentSettings):
    """An instrument reached at one `endpoint`, which the kind's `endpoint_rule` checks
    (a serial port or TCP address unless the kind says otherwise)."""

    endpoint: str
    endpoint_rule: ClassVar[Callable[[str, bool], str]] = check_line_endpoint

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str, info: ValidationInfo) -> str:
        return cls.endpoint_rule(value, free_ports_allowed(info))


@dataclass(frozen=True)
class Capabilities:
    """What an instrument kind can do, known without connecting to it.

    Ranges are the documented ones of the instrument (reference/instruments.md, or the
    vendor's datasheet where that page has none); None means "not limited here" for a range
    and "cannot" for `eis_frequency_Hz`.
    """

    techniques: frozenset[str] = frozenset()
    on_device_limits: bool = False  # step limits are evaluated by the instrument
    can_reattach: bool = False  # picks a running step up again after a lost connection
    runs: Runs = "host"  # "step": whole steps on its firmware; "schedule": whole schedules
    channels: int | None = 1  # None: as many as the bench file gives it
    current_range_A: float | None = None  # the largest |I| it sources
    voltage_range_V: tuple[float, float] | None = None  # the cell voltages it can apply
    compliance_V: float | None = None  # the largest |V| it lets the cell reach
    compliance_setting: str = ""  # the bench-file key that sets compliance_V
    eis_frequency_Hz: tuple[float, float] | None = None  # (lowest, highest)
    ramps: bool = False  # a chamber that ramps its setpoint on its own controller
    notes: str = ""


@dataclass(frozen=True)
class SimContext:
    """What a kind's simulator factory gets from the simulated bench."""

    name: str  # the instrument's name in the bench file
    index: int  # its 1-based place in the bench file (serial numbers, seeds)
    clock: Any  # the simulation's SimClock
    start_degC: float = 25.0
    seed: int | None = None
    slots: tuple[Any, ...] = ()  # the bench slots that use the instrument
    cell: Any = None  # a potentiostat's cell
    plant: Any = None  # a chamber's or rig's plant, made by the kind's `plant` factory
    sync: Callable[[], None] | None = None  # brings the plants it shares up to now
    cells: Mapping[str, Any] = field(default_factory=dict)  # a cycler's cells, by slot name


@dataclass
class SimulatedInstrument:
    """A kind's simulator: `simulator` takes `inject(fault, **params)`, `clear()` and
    `state()`; `endpoints` maps each endpoint field of the config to what serves it
    (`start_tcp`, optionally `start_pty`, `stop`)."""

    simulator: Any
    endpoints: dict[str, Any]


DriverFactory = Callable[[Any, str, Any, int], Any]  # (config, name, clock, channel)
SimulatorFactory = Callable[[Any, SimContext], SimulatedInstrument]
PlantFactory = Callable[[Any, SimContext], Any]
Probe = Callable[[Any], Awaitable[tuple[dict[str, str], str]]]
SimulationProblems = Callable[[str, Any, list[Any]], list[str]]  # (name, config, slots)


def _no_problems(name: str, config: Any, slots: list[Any]) -> list[str]:
    return []


def _runs_anything(plan: Any) -> list[str]:
    return []


@dataclass(frozen=True)
class InstrumentKind:
    """One instrument kind, declared once.

    `driver` builds an unopened driver; `probe` asks an open one who it is and what it reads
    (`cellbench bench check`); `plant` (chambers and rigs) builds the physics its simulator
    sits in front of, `simulator` the simulator; `faults` names what that simulator's
    `inject` takes. `configured` narrows the capabilities by the bench-file settings (a
    compliance the file sets), `simulation_problems` says what a simulation cannot serve,
    and `schedule_problems` (kinds that run whole schedules) why a bound plan cannot be
    written as one, one sentence each.
    """

    label: str
    role: Role
    config: type[InstrumentSettings]
    capabilities: Capabilities
    faults: Mapping[str, str]
    driver: DriverFactory
    simulator: SimulatorFactory
    probe: Probe
    endpoints: tuple[str, ...] = ("endpoint",)
    plant: PlantFactory | None = None
    configured: Callable[[Any, Capabilities], Capabilities] | None = None
    simulation_problems: SimulationProblems = field(default=_no_problems)
    schedule_problems: Callable[[Any], list[str]] = field(default=_runs_anything)

    @property
    def kind(self) -> str:
        """The bench file's `kind = "..."`, as the config model declares it."""
        return str(get_args(self.config.model_fields["kind"].annotation)[0])

    def capabilities_for(self, config: Any) -> Capabilities:
        """What this configured instrument can do (the kind's, narrowed by its settings)."""
        if self.configured is None:
            return self.capabilities
        return self.configured(config, self.capabilities)

    def endpoints_of(self, config: Any) -> dict[str, str]:
        """The endpoint fields of one configured instrument: {"endpoint": …}, or more."""
        return {key: getattr(config, key) for key in self.endpoints}


def endpoint_driver(
    driver_class: Any, *fields: str, channel: bool = False, clock: bool = False
) -> DriverFactory:
    """The driver factory of a kind whose driver takes the config's `endpoint`, the
    instrument's name and the named config `fields` as keywords of the same names (and the
    channel or the clock when it asks for them)."""

    def build(config: Any, name: str, clock_: Any, channel_: int) -> Any:
        options = {key: getattr(config, key) for key in fields}
        if channel:
            options["channel"] = channel_
        if clock:
            options["clock"] = clock_
        return driver_class(config.endpoint, name=name, **options)

    return build
