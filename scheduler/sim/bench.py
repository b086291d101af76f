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
from scheduler.instruments import open_instrument
from scheduler.kinds import InstrumentKind, Role, SimContext
from simulators.cell import load_preset, make_cell
from simulators.clock import SimClock
from simulators.press import PressParams

FREE_ENDPOINT = "tcp://127.0.0.1:0"  # every endpoint starts here: a free local port
_PRESS = PressParams()  # the simulated press as its plant models it by default

# The kind that fills each role of a simulated slot, and its bench-file settings beyond the
# endpoints.
SLOT: dict[Role, tuple[str, dict[str, Any]]] = {
    "potentiostat": ("emstat4", {}),
    "chamber": ("espec", {}),
    "rig": (
        "pressure-rig",
        {"piston_area_mm2": _PRESS.piston_area_mm2, "friction_N": _PRESS.friction_N},
    ),
}


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


def _configure(role: Role) -> tuple[InstrumentKind, Any]:
    """The role's kind and its config, every endpoint on a free port still to be bound."""
    kind = kind_for(role)
    raw = {"kind": kind.kind, **dict.fromkeys(kind.endpoints, FREE_ENDPOINT), **SLOT[role][1]}
    return kind, kind.config.model_validate(raw, context={"free_ports": True})


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
) -> AsyncIterator[SimulatedSlot]:
    """Start every simulator a slot needs, wired to one cell, and yield connected drivers.

    The chamber sets the cell's temperature through its thermal lag; the press sets its
    stack pressure. All share one SimClock, which must run at a finite time scale for the
    plants to evolve.
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
    planned = {role: _configure(role) for role in roles}
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
            served[role] = await _serve(stack, kind, config, context)
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
