"""An in-process simulated bench: a preset cell behind a simulated potentiostat, or a whole
slot (potentiostat, chamber, press) on one clock, each reached by its real driver over TCP
(or a pty). Used by `cellbench demo`, `cellbench sim run` and the paper runs.

Every instrument is built by its kind's registration (`scheduler.kinds`: config model,
plant, simulator and driver factories), as `cellbench sim --bench` and the instrument pool
build them; `SLOT` only says which kind fills each role and what it is set to.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from drivers.potentiostat import Potentiostat
from scheduler import kinds
from scheduler.endpoints import tcp_address, with_port
from scheduler.errors import SchedulerError
from scheduler.instruments import open_instrument
from scheduler.kinds import InstrumentKind, Role, SimContext
from simulators.cell import load_preset, make_cell
from simulators.clock import SimClock
from simulators.press import PressParams

FREE_ENDPOINT = "tcp://127.0.0.1:0"  # every endpoint starts here: a free local port
_PRESS = PressParams()  # the simulated press as its plant models it by default

# The kind that fills each role of a simulated slot by default, and its bench-file settings
# beyond the endpoints.
SLOT: dict[Role, tuple[str, dict[str, Any]]] = {
    "potentiostat": ("emstat4", {}),
    "chamber": ("espec", {}),
    "rig": (
        "pressure-rig",
        {"piston_area_mm2": _PRESS.piston_area_mm2, "friction_N": _PRESS.friction_N},
    ),
}
# The chambers a simulated slot can have (`sim run --chamber`): the name -> its kind.
CHAMBERS = {"espec": "espec", "watlow": "watlow-f4t"}
SLOT_NAME = "sim-1"


def roles_needed(plan: Any) -> list[Role]:
    """The environment instruments a bound plan's steps use: "chamber" for a temperature
    step, "rig" for a stack-pressure step (the runner refuses those steps without one)."""
    from protocols import steps as P

    needed: list[Role] = []
    if any(isinstance(step, P.SetTemperature) for step in plan.steps):
        needed.append("chamber")
    if any(isinstance(step, P.SetPressure) for step in plan.steps):
        needed.append("rig")
    return needed


def slot_problems(
    plan: Any, needed: list[Role], cell_area_mm2: float, chamber_kind: str = "espec"
) -> list[str]:
    """Why a bound plan cannot run on the simulated slot `sim run` would build for it
    (its potentiostat, and the chamber and press it needs), by the same submission checks
    a real bench's slot gets (`scheduler.checks`): an instrument's documented ranges hold
    in simulation too."""
    import tomli_w

    from scheduler.bench import Bench
    from scheduler.checks import fit_problems

    names: dict[Role, str] = {"potentiostat": "pstat", "chamber": "chamber", "rig": "press"}
    planned = _plan_roles(["potentiostat", *needed], chamber_kind)
    instruments = {
        names[role]: config.model_dump(mode="json", exclude_none=True)
        for role, (_, config) in planned.items()
    }
    slot: dict[str, Any] = {
        "name": SLOT_NAME,
        "potentiostat": "pstat",
        "cell_area_mm2": cell_area_mm2,
    }
    slot |= {
        key: names[role] for role, key in (("chamber", "chamber"), ("rig", "rig")) if role in needed
    }
    text = tomli_w.dumps(
        {"bench": {"name": "sim-run"}, "instruments": instruments, "slots": [slot]}
    )
    bench = Bench.from_text(text, source="the simulated slot", free_ports=True)
    return fit_problems(plan, bench, SLOT_NAME)


@dataclass
class SimulatedChannel:
    """One simulated potentiostat with its cell, and the connected driver."""

    driver: Potentiostat
    simulator: Any  # inject / clear / state, and the kind's own fault controls
    cell: Any
    params: Any
    endpoint: str


@dataclass
class SimulatedSlot:
    """A whole simulated slot: potentiostat, optional chamber and press, on one clock."""

    driver: Potentiostat
    environment: Any
    cell: Any
    params: Any
    clock: SimClock
    bench: Any
    emstat: Any  # the potentiostat's simulator
    chamber_plant: Any = None
    press_plant: Any = None


@dataclass
class _Served:
    """One instrument up: its simulator, its opened driver, the endpoints they meet on."""

    simulator: Any
    driver: Any
    endpoints: dict[str, str]


def _cell_params(preset: str, overrides: Mapping[str, Any] | None) -> Any:
    params = load_preset(preset)
    return params.with_overrides(dict(overrides)) if overrides else params


def kind_for(role: Role) -> InstrumentKind:
    """The kind that fills `role` in a simulated slot (and `simulated_emstat4`'s potentiostat)."""
    return kinds.get(SLOT[role][0])


def _configure(role: Role, kind_name: str | None = None) -> tuple[InstrumentKind, Any]:
    """The role's kind (`kind_name`, or the SLOT default with its settings) and its config,
    every endpoint on a free port still to be bound."""
    if kind_name is None or kind_name == SLOT[role][0]:
        kind, settings = kind_for(role), SLOT[role][1]
    else:
        kind, settings = kinds.get(kind_name), {}
    raw = {"kind": kind.kind, **dict.fromkeys(kind.endpoints, FREE_ENDPOINT), **settings}
    return kind, kind.config.model_validate(raw, context={"free_ports": True})


def _plan_roles(roles: list[Role], chamber_kind: str) -> dict[Role, tuple[InstrumentKind, Any]]:
    """Each role's kind and config, the chamber of `chamber_kind` (a key of CHAMBERS)."""
    if chamber_kind not in CHAMBERS:
        raise SchedulerError(
            f"chamber {chamber_kind!r} is not one a simulated slot has; choose "
            f"{' or '.join(CHAMBERS)}"
        )
    chosen: dict[Role, str] = {"chamber": CHAMBERS[chamber_kind]}
    return {role: _configure(role, chosen.get(role)) for role in roles}


def _quietly(close: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[None]]:
    """A closer whose own failure cannot hide what ended the simulation."""

    async def run() -> None:
        with contextlib.suppress(Exception):
            await close()

    return run


async def _start(server: Any, endpoint: str, transport: str) -> str:
    """Serve one endpoint on a pty or a free TCP port; the endpoint the driver then uses."""
    if transport == "pty":
        return str(await server.start_pty())
    address = tcp_address(endpoint)
    host = address[0] if address else "127.0.0.1"
    _, port = (await server.start_tcp(host, 0))[:2]
    return with_port(endpoint, port)


async def _serve(
    stack: contextlib.AsyncExitStack,
    kind: InstrumentKind,
    config: Any,
    context: SimContext,
    transport: str = "tcp",
) -> _Served:
    """Start the kind's simulator, bind its endpoints and open the kind's driver on them;
    `stack` closes the driver and stops the simulator."""
    made = kind.simulator(config, context)
    bound: dict[str, str] = {}
    for key, server in made.endpoints.items():
        stack.push_async_callback(_quietly(server.stop))
        bound[key] = await _start(server, getattr(config, key), transport)
    config = kind.config.model_validate({**config.model_dump(), **bound})
    driver = kind.driver(config, f"{kind.label} (simulated)", context.clock, 0)
    stack.push_async_callback(_quietly(driver.close))
    await open_instrument(driver)
    return _Served(made.simulator, driver, bound)


@contextlib.asynccontextmanager
async def simulated_emstat4(
    preset: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    time_scale: float = math.inf,
    transport: str = "tcp",
    seed: int | None = 1,
    temperature_degC: float | None = None,
    pressure_MPa: float = 0.0,
) -> AsyncIterator[SimulatedChannel]:
    """Start a simulated potentiostat with a preset cell and yield a connected driver."""
    params = _cell_params(preset, overrides)
    cell = make_cell(
        params, temperature_degC=temperature_degC, pressure_MPa=pressure_MPa, seed=seed
    )
    kind, config = _configure("potentiostat")
    context = SimContext("potentiostat", 1, SimClock(time_scale), seed=seed, cell=cell)
    async with contextlib.AsyncExitStack() as stack:
        served = await _serve(stack, kind, config, context, transport)
        yield SimulatedChannel(
            served.driver, served.simulator, cell, params, served.endpoints["endpoint"]
        )


@contextlib.asynccontextmanager
async def simulated_slot(
    preset: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    time_scale: float = 2e4,
    chamber: bool = True,
    press: bool = False,
    start_degC: float = 25.0,
    seed: int | None = 1,
    poll_s: float = 60.0,
    chamber_kind: str = "espec",
    transport: str = "tcp",
) -> AsyncIterator[SimulatedSlot]:
    """Start every simulator a slot needs, wired to one cell, and yield connected drivers.

    The chamber (of `chamber_kind`, a key of CHAMBERS) sets the cell's temperature through
    its thermal lag; the press sets its stack pressure. All share one SimClock, which must
    run at a finite time scale for the plants to evolve. `transport` is how the
    potentiostat's driver reaches its simulator (tcp or pty).
    """
    from scheduler.environment import Environment, EnvironmentSettings
    from simulators.bench import SimulatedBench

    params = _cell_params(preset, overrides)
    clock = SimClock(time_scale)
    cell = make_cell(params, temperature_degC=start_degC, seed=seed)
    roles: list[Role] = ["potentiostat"]
    if chamber:
        roles.append("chamber")
    if press:
        roles.append("rig")
    planned = _plan_roles(roles, chamber_kind)
    contexts = {
        role: SimContext(role, index, clock, start_degC=start_degC, seed=seed)
        for index, role in enumerate(roles, start=1)
    }
    plants = {
        role: kind.plant(config, contexts[role])
        for role, (kind, config) in planned.items()
        if kind.plant is not None
    }
    bench = SimulatedBench(clock, chamber=plants.get("chamber"), press=plants.get("rig"))
    bench.add_cell(cell, in_press=press)
    served: dict[Role, _Served] = {}
    async with contextlib.AsyncExitStack() as stack:
        await bench.start()
        stack.push_async_callback(bench.stop)
        for role, (kind, config) in planned.items():
            context = dataclasses.replace(
                contexts[role],
                cell=cell if role == "potentiostat" else None,
                plant=plants.get(role),
                sync=bench.sync if role in plants else None,
            )
            link = transport if role == "potentiostat" else "tcp"
            served[role] = await _serve(stack, kind, config, context, link)
        environment = Environment(
            served["chamber"].driver if "chamber" in served else None,
            served["rig"].driver if "rig" in served else None,
            clock,
            cell_area_mm2=params.area_cm2 * 100.0,
            settings=EnvironmentSettings(poll_s=poll_s),
        )
        pstat = served["potentiostat"]
        yield SimulatedSlot(
            pstat.driver,
            environment,
            cell,
            params,
            clock,
            bench,
            pstat.simulator,
            plants.get("chamber"),
            plants.get("rig"),
        )
