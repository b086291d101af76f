"""`cellbench sim run`: run a protocol on a simulated bench through the real drivers."""

from __future__ import annotations

import asyncio
import contextlib
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
import yaml

from scheduler.cli.output import console, emit
from scheduler.cli.sim_cmd import sim_app
from scheduler.errors import SchedulerError

if TYPE_CHECKING:
    from simulators.emstat4 import FaultSpec

ENVIRONMENT_TIME_SCALE = 5e4  # a chamber's and a press's plants need a finite pace


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """`PARAM=VALUE` pairs → overrides; numbers become floats, everything else stays text."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise SchedulerError(f"--set {pair!r} is not PARAM=VALUE (e.g. --set D_cm2_s=1e-9)")
        text = value.strip()
        try:
            overrides[name.strip()] = float(text)
        except ValueError:
            overrides[name.strip()] = text
    return overrides


def protocol_overrides(pairs: list[str], protocol: str) -> dict[str, Any]:
    """`NAME=VALUE` pairs → protocol parameter overrides (values as YAML scalars: `1C`, `5`)."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise SchedulerError(
                f"--param {pair!r} for protocol {protocol!r} is not NAME=VALUE "
                "(e.g. --param rate=1C)"
            )
        try:
            overrides[name.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            overrides[name.strip()] = value
    return overrides


def parse_faults(texts: list[str]) -> list[FaultSpec]:
    """`--fault KIND[@N]` options → the faults to inject, named as the simulated
    potentiostat's kind declares them (an unknown name: one sentence listing the valid ones)."""
    from scheduler.sim.bench import kind_for
    from simulators.emstat4 import parse_fault

    names = tuple(kind_for("potentiostat").faults)
    return [parse_fault(text, names) for text in texts]


@sim_app.command("run")
def run(
    protocol: Path = typer.Argument(..., help="Protocol file (YAML)."),
    preset: str = typer.Option("gao2025-dfncm-llzo", help="Cell preset name or preset file."),
    set_: list[str] = typer.Option([], "--set", help="Override a preset parameter: NAME=VALUE."),
    param: list[str] = typer.Option(
        [], "--param", help="Override a protocol parameter: NAME=VALUE (e.g. --param rate=1C)."
    ),
    time_scale: float = typer.Option(math.inf, help="Simulated seconds per wall second."),
    db: str | None = typer.Option(None, envvar="CELLBENCH_DB", help="Database URL."),
    transport: str = typer.Option("tcp", help="How the driver reaches the simulator: tcp or pty."),
    fault: list[str] = typer.Option(
        [],
        "--fault",
        help=(
            "Inject a fault into the simulated EmStat4: KIND[@N], N = data packages before it "
            "(default 20). KIND: drop, drop-abrupt, unplug, stall, corrupt, error[=XXXX], "
            "short, open. Repeatable."
        ),
    ),
    chamber: str = typer.Option(
        "espec",
        "--chamber",
        help="The simulated chamber a protocol with temperature steps gets: espec or watlow.",
    ),
    output: Path | None = typer.Option(None, "--output", help="Folder for the PNG plots."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Run PROTOCOL on a simulated cell behind a simulated EmStat4, store it, print results.

    A protocol that sets the temperature or the stack pressure gets a simulated chamber and
    press on the same clock (at 5e4 simulated seconds per wall second unless --time-scale
    says otherwise)."""
    import protocols
    from scheduler.analyze import analyse_stored_run
    from scheduler.cli.analyze_cmd import render_report
    from storage import open_store

    if transport not in ("tcp", "pty"):
        raise SchedulerError(f"--transport must be tcp or pty, not {transport!r}")
    faults = parse_faults(fault)
    link_faults = [f.kind for f in faults if f.kind in ("drop", "drop-abrupt", "unplug")]
    if link_faults and transport != "tcp":
        raise SchedulerError(f"--fault {link_faults[0]} needs --transport tcp (a pty cannot drop)")
    loaded = protocols.load(protocol)
    overrides = parse_settings(set_)
    parameters = protocol_overrides(param, loaded.name)
    store = open_store(db)
    run_id, result, cell, beyond = asyncio.run(
        _run_simulated(
            store,
            loaded,
            preset=preset,
            cell_overrides=overrides,
            parameters=parameters,
            time_scale=time_scale,
            transport=transport,
            faults=faults,
            chamber=chamber,
        )
    )
    report = analyse_stored_run(store, run_id, output_dir=output).report
    data = {**_results(store, run_id, result, report), "beyond_the_instrument": beyond}

    def render(_: object) -> None:
        for line in beyond:
            console.print(f"note: a real EmStat4 slot refuses this at submission: {line}")
        render_report(report, f"run {run_id}: {loaded.name} on {cell.name}")
        for event in data["events"]:
            console.print(f"{event['severity']} {event['kind']}: {event['message']}", markup=False)
        console.print(
            f"{result.status}: {len(result.steps)} steps, "
            f"{data['simulated_hours']:.1f} h simulated. {result.message}"
        )

    emit(data, as_json, render)
    if result.status != "completed":
        raise SchedulerError(f"run {run_id} ended with {result.status}: {result.message}")


async def _run_simulated(
    db: Any,
    protocol: Any,
    *,
    preset: str,
    cell_overrides: dict[str, Any],
    parameters: dict[str, Any],
    time_scale: float,
    transport: str,
    faults: list[FaultSpec],
    chamber: str = "espec",
) -> tuple[int, Any, Any, list[str]]:
    """Run `protocol` on the preset's cell behind a simulated EmStat4, through the driver,
    with a simulated chamber and press when its steps set temperature or pressure.

    Also returns what the slot's real instruments could not do (a spectrum above the
    EmStat4's frequency range): the simulation runs it, and says so, so that a paper's
    procedure can be tried as published and then with `--param` on what the lab has."""
    from scheduler.binding import CellInfo, bind
    from scheduler.session import run_protocol
    from scheduler.sim.bench import (
        CHAMBERS,
        roles_needed,
        simulated_emstat4,
        simulated_slot,
        slot_problems,
    )
    from scheduler.sim.papers import cell_extra
    from simulators.cell import load_preset
    from storage import AsyncStore

    if chamber not in CHAMBERS:
        raise SchedulerError(f"--chamber must be {' or '.join(CHAMBERS)}, not {chamber!r}")
    db = AsyncStore.of(db)
    params = load_preset(preset)
    params = params.with_overrides(cell_overrides) if cell_overrides else params
    cell = CellInfo.from_preset(params, f"sim {params.name}")
    plan = bind(protocol, cell, parameters or None).plan
    needed = roles_needed(plan)
    beyond = slot_problems(plan, needed, params.area_cm2 * 100.0, chamber)
    await db.add_cell(cell.name, extra=cell_extra(params))
    metadata = {"preset": preset, "cell_overrides": cell_overrides, "time_scale": time_scale}
    async with contextlib.AsyncExitStack() as stack:
        if needed:
            pace = time_scale if math.isfinite(time_scale) else ENVIRONMENT_TIME_SCALE
            slot = await stack.enter_async_context(
                simulated_slot(
                    preset,
                    overrides=cell_overrides or None,
                    time_scale=pace,
                    chamber="chamber" in needed,
                    press="rig" in needed,
                    chamber_kind=chamber,
                    transport=transport,
                )
            )
            driver, simulator, environment = slot.driver, slot.emstat, slot.environment
            metadata |= {"time_scale": pace, "chamber": chamber if "chamber" in needed else None}
        else:
            channel = await stack.enter_async_context(
                simulated_emstat4(
                    preset, overrides=cell_overrides, time_scale=time_scale, transport=transport
                )
            )
            driver, simulator, environment = channel.driver, channel.simulator, None
        for spec in faults:
            simulator.inject(spec.kind, after=spec.after, code=spec.code)
        run_id, result = await run_protocol(
            db,
            protocol,
            cell,
            driver,
            slot="sim-1",
            overrides=parameters or None,
            environment=environment,
            metadata=metadata,
        )
        return run_id, result, cell, beyond


def _results(store: Any, run_id: int, result: Any, report: Any) -> dict[str, Any]:
    cycle_outcome = report.get("cycle_summary")
    cycles = cycle_outcome.result if cycle_outcome else []
    return {
        "run_id": run_id,
        "status": result.status,
        "message": result.message,
        "simulated_hours": result.state.test_time_s / 3600,
        "steps": len(result.steps),
        "cycles": [c.as_dict() for c in cycles],
        "analyses": report.as_dict()["analyses"],
        "events": [
            {"kind": e.kind, "severity": e.severity, "message": e.message}
            for e in store.events(run_id)
        ],
    }
