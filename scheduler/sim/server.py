"""`cellbench sim --bench`: serve a whole bench file's instruments from simulators.

Every instrument of the bench file gets its simulator on the endpoint the file names (TCP
host:port; for a serial path, a pty symlinked to that path; port 0 picks a free port and the
resolved bench file can be written for clients). Each slot gets a cell from
`[simulation.cells]` (preset, SOC, parameter overrides). Cells sit in their chamber, behind
its thermal lag, and in their rig, under its stack pressure, through
`simulators.bench.SimulatedBench`; everything runs on one SimClock at
`[simulation].time_scale`.

Fault injection: `[simulation].control` is a TCP line server. Each line is one JSON object,
each answer one JSON line, `{"ok": true, ...}` or `{"ok": false, "error": "..."}`:

    {"instrument": "chamberA", "fault": "overshoot", "value": 5}
    {"instrument": "pstat1", "fault": "drop"}
    {"instrument": "pstat1", "fault": "error", "code": "4010", "after": 3}
    {"slot": "A1", "fault": "open"}
    {"instrument": "chamberA", "fault": "clear"}
    {"query": "state"}

Each instrument's simulator takes the fault (`inject(fault, **params)`, `clear()`); the
parameters a request may carry are `value`, `after`, `code` and `message`. The state answer
carries what each simulator's `state()` says (the plants' true values: chamber air, stack
pressure; per potentiostat whether it drives its cell, `cell_on`, and runs a script) and, per
slot, its cell's (SOC, temperature, pressure, fault).

`FAULTS` lists the fault names per instrument kind (from the kinds' registrations), with
what they do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import tomli_w

from scheduler.bench import Bench, endpoint_fields, replace_endpoints
from scheduler.endpoints import tcp_address, with_port
from scheduler.errors import SchedulerError
from scheduler.kinds import KINDS, InstrumentKind, SimContext, kind_of

log = logging.getLogger("cellbench.sim")

DEFAULT_PRESET = "gao2025-dfncm-llzo"
CONNECTION_POLL_S = 0.2
FAULT_PARAMS = (
    "value",
    "after",
    "code",
    "message",
    "channel",
    "mode",
    "command",
)  # what a control request may pass on

CLEAR = "undo every fault on this instrument"
SLOT_FAULTS = {
    "open": "the slot's cell circuit opens",
    "short": "the slot's cell shorts",
    "clear": "the cell is whole again",
}
FAULTS: dict[str, dict[str, str]] = {
    **{name: {**kind.faults, "clear": CLEAR} for name, kind in KINDS.items()},
    "slot": SLOT_FAULTS,
}


@dataclass
class _Served:
    """One simulated instrument: its simulator, what serves each endpoint, where it is bound."""

    name: str
    kind: InstrumentKind
    simulator: Any  # inject / clear / state
    endpoints: dict[str, Any]  # endpoint field -> what serves it
    bound: dict[str, str] = field(default_factory=dict)  # endpoint field -> endpoint
    links: list[Path] = field(default_factory=list)
    seen: int = 0


def _claim_link(path: Path, name: str) -> None:
    """Make way for a pty link at `path`: replace an old link, never a real file or port."""
    if path.is_symlink():
        path.unlink()  # left by an earlier run
    elif path.exists():
        raise SchedulerError(
            f"cannot serve {name} on {path}: it exists and is not a link this simulator made "
            "(a real serial port?)"
        )


def _make_link(path: Path, device: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(device)


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _write_atomically(target: Path, text: str) -> None:
    """Clients poll for the file: they must never see it half-written."""
    partial = target.with_name(target.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, target)


class BenchSimulation:
    """Every instrument of a bench file served by a simulator, with one cell per slot."""

    def __init__(self, bench: Bench) -> None:
        if bench.simulation is None:
            raise SchedulerError(
                f"{bench.source or 'the bench file'} has no [simulation] section; add one "
                "(time_scale, control, cells) to serve it with `cellbench sim --bench`"
            )
        self.bench = bench
        self.sim = bench.simulation
        self.clock: Any = None
        self.cells: dict[str, Any] = {}
        self.presets: dict[str, str] = {}
        self.served: dict[str, _Served] = {}
        self.benches: list[Any] = []
        self.control_address: tuple[str, int] | None = None
        self._control: asyncio.AbstractServer | None = None
        self._watch: asyncio.Task[None] | None = None
        self._clients: set[asyncio.Task[None]] = set()

    # -- building -----------------------------------------------------------------------------
    def _problems(self) -> list[str]:
        """What the bench file asks that a simulation cannot give."""
        out = []
        for name, config in self.bench.instruments.items():
            kind = kind_of(config)
            users = self.bench.slots_in(name)
            # A cycler's simulator gives each of its slots a cell of its own.
            shared = kind.capabilities.runs != "schedule" and len(users) > 1
            if kind.role == "potentiostat" and shared:
                out.append(
                    f"instruments.{name}: the simulator gives each potentiostat one cell, but "
                    f"slots {', '.join(s.name for s in users)} share it"
                )
            out += kind.simulation_problems(name, config, users)
        for slot in self.bench.slots:
            spec = self.sim.cells.get(slot.name)
            try:
                self.cell_params(spec)
            except Exception as exc:
                out.append(f"simulation.cells.{slot.name}: {exc}")
        return out

    @staticmethod
    def cell_params(spec: Any) -> Any:
        from simulators.cell import load_preset

        params = load_preset(spec.preset if spec else DEFAULT_PRESET)
        if spec is not None and spec.overrides:
            params = params.with_overrides(dict(spec.overrides))
        return params

    def _context(self, name: str, index: int, **extra: Any) -> SimContext:
        return SimContext(
            name,
            index,
            self.clock,
            start_degC=self.sim.start_degC,
            seed=self.sim.seed,
            slots=tuple(self.bench.slots_in(name)),
            **extra,
        )

    def _build(self) -> None:
        from simulators.clock import SimClock

        problems = self._problems()
        if problems:
            source = self.bench.source or "the bench file"
            raise SchedulerError(
                "\n".join([f"{source} cannot be simulated:", *(f"  {p}" for p in problems)])
            )
        self.clock = SimClock(self.sim.time_scale)
        plants: dict[str, Any] = {}
        for index, (name, config) in enumerate(self.bench.instruments.items(), start=1):
            kind = kind_of(config)
            if kind.plant is not None:
                plants[name] = kind.plant(config, self._context(name, index))
        owners = self._place(plants)
        self._make_cells(owners)
        for index, (name, config) in enumerate(self.bench.instruments.items(), start=1):
            kind = kind_of(config)
            owner = owners.get(name)
            context = self._context(
                name,
                index,
                cell=self._cell_for(name, index) if kind.role == "potentiostat" else None,
                cells={s.name: self.cells[s.name] for s in self.bench.slots_in(name)},
                plant=plants.get(name),
                sync=owner.sync if owner is not None else None,
            )
            made = kind.simulator(config, context)
            self.served[name] = _Served(name, kind, made.simulator, made.endpoints)

    def _place(self, plants: dict[str, Any]) -> dict[str, Any]:
        """One SimulatedBench per chamber, carrying the first press whose slots sit in it (its
        load cell then feels the chamber's air); any other press gets a bench of its own.
        Returns the bench that owns each chamber's and rig's plant."""
        from simulators.bench import SimulatedBench

        bench = self.bench
        roles = {name: kind_of(bench.instrument(name)).role for name in plants}
        chambers = [n for n in plants if roles[n] == "chamber"]
        rigs = [n for n in plants if roles[n] == "rig"]
        rig_chamber = {name: next((s.chamber for s in bench.slots_in(name)), None) for name in rigs}
        owners: dict[str, Any] = {}
        for name in chambers:
            rig = next((r for r, c in rig_chamber.items() if c == name), None)
            owners[name] = SimulatedBench(
                self.clock, chamber=plants[name], press=plants[rig] if rig else None
            )
            if rig is not None:
                owners.setdefault(rig, owners[name])
        for rig in rigs:
            owners.setdefault(rig, SimulatedBench(self.clock, press=plants[rig]))
        self.benches = list({id(b): b for b in owners.values()}.values())
        return owners

    def _make_cells(self, owners: dict[str, Any]) -> None:
        """A cell per slot, in its chamber (behind its thermal lag) and under its rig."""
        from simulators.cell import make_cell

        sim = self.sim
        for index, slot in enumerate(self.bench.slots):
            spec = sim.cells.get(slot.name)
            seed = spec.seed if spec and spec.seed is not None else (sim.seed or 0) + index
            cell = make_cell(
                self.cell_params(spec),
                soc=spec.soc if spec else None,
                temperature_degC=sim.start_degC,
                seed=seed,
            )
            self.cells[slot.name] = cell
            self.presets[slot.name] = spec.preset if spec else DEFAULT_PRESET
            in_chamber = owners.get(slot.chamber) if slot.chamber else None
            in_rig = owners.get(slot.rig) if slot.rig else None
            if in_chamber is not None:
                in_chamber.add_cell(cell, in_press=in_chamber is in_rig)
            if in_rig is not None and in_rig is not in_chamber:
                in_rig.add_cell(cell, in_press=True)

    def _cell_for(self, potentiostat: str, index: int) -> Any:
        """The cell on a potentiostat's terminals: its slot's, or a spare if no slot uses it."""
        from simulators.cell import make_cell

        users = self.bench.slots_in(potentiostat)
        if users:
            return self.cells[users[0].name]
        params = self.cell_params(None)
        return make_cell(params, temperature_degC=self.sim.start_degC, seed=index)

    # -- serving ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Build everything, bind every endpoint and start the plants."""
        self._build()
        try:
            for served in self.served.values():
                config = self.bench.instrument(served.name)
                endpoints = served.kind.endpoints_of(config)
                for key, server in served.endpoints.items():
                    served.bound[key] = await self._bind(served, key, server, endpoints[key])
            for sim_bench in self.benches:
                await sim_bench.start()
            if self.sim.control:
                parsed = urlparse(self.sim.control)
                self._control = await asyncio.start_server(
                    self._serve_control, parsed.hostname, parsed.port
                )
                self.control_address = self._control.sockets[0].getsockname()[:2]
        except BaseException:
            await self.stop()
            raise
        self._watch = asyncio.create_task(self._watch_connections())
        for slot in self.bench.slots:
            where = [f"in {slot.chamber}"] if slot.chamber else []
            where += [f"in {slot.rig}"] if slot.rig else []
            log.info(
                "slot %s: %s cell on %s %s",
                slot.name,
                self.presets[slot.name],
                slot.potentiostat,
                " ".join(where),
            )

    async def _bind(self, served: _Served, key: str, simulator: Any, endpoint: str) -> str:
        what = f"{served.name} ({served.kind.kind}{'' if key == 'endpoint' else ' ' + key})"
        address = tcp_address(endpoint)
        if address is not None:
            host, port = address
            try:
                _, bound_port = (await simulator.start_tcp(host, port))[:2]
            except OSError as exc:
                raise SchedulerError(
                    f"cannot serve {served.name} on {endpoint}: {exc.strerror or exc}; is "
                    "another simulator or the instrument's bridge already on that port?"
                ) from None
            bound = with_port(endpoint, bound_port)
            log.info("%s listening on %s", what, bound)
            return bound
        path = Path(urlparse(endpoint).path if endpoint.startswith("serial:") else endpoint)
        if not hasattr(simulator, "start_pty"):
            raise SchedulerError(
                f"{served.name}: the {served.kind.kind} simulator cannot serve the serial path "
                f"{path}"
            )
        _claim_link(path, served.name)
        device = await simulator.start_pty()
        _make_link(path, device)
        served.links.append(path)
        log.info("%s on %s -> %s", what, path, device)
        return endpoint

    async def _watch_connections(self) -> None:
        """One log line per new host connection to any instrument."""
        while True:
            await asyncio.sleep(CONNECTION_POLL_S)
            for served in self.served.values():
                count = int(served.simulator.state().get("connections", 0))
                if count > served.seen:
                    for n in range(served.seen + 1, count + 1):
                        log.info("%s: host connected (connection %d)", served.name, n)
                    served.seen = count

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._control is not None:
            self._control.close()
        for task in list(self._clients):
            task.cancel()
        for served in self.served.values():
            for server in served.endpoints.values():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.stop(), 3.0)
            for link in served.links:
                _remove(link)
        for sim_bench in self.benches:
            await sim_bench.stop()

    def resolved_text(self) -> str:
        """The bench file with every endpoint as bound (port 0 replaced by the real port)."""
        raw = tomllib.loads(self.bench.source_text)
        new: dict[tuple[str, ...], str] = {}
        for path, _ in endpoint_fields(raw):
            if path[0] == "instruments":
                bound = self.served[path[1]].bound.get(path[2])
                if bound is not None:
                    new[path] = bound
            elif path == ("simulation", "control") and self.control_address:
                new[path] = f"tcp://{self.control_address[0]}:{self.control_address[1]}"
        header = (
            f"# Written by `cellbench sim --bench {self.bench.source}` with the endpoints it "
            "bound;\n# valid while that simulation runs.\n"
        )
        return header + tomli_w.dumps(replace_endpoints(raw, new))

    # -- fault injection ----------------------------------------------------------------------
    async def _serve_control(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        try:
            while line := await reader.readline():
                if not line.strip():
                    continue
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict):
                        raise SchedulerError("a control request is one JSON object per line")
                    answer = {"ok": True, **self.command(request)}
                except (json.JSONDecodeError, UnicodeDecodeError):
                    answer = {"ok": False, "error": "a control request is one JSON object"}
                except Exception as exc:
                    answer = {"ok": False, "error": str(exc)}
                writer.write((json.dumps(answer, default=str) + "\n").encode())
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if task is not None:
                self._clients.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    def command(self, request: dict[str, Any]) -> dict[str, Any]:
        """Apply one control request; returns what to add to the `ok` answer."""
        if request.get("query") == "state":
            return {"state": self.state()}
        if request.get("query") == "faults":
            return {"faults": FAULTS}
        fault = request.get("fault")
        if not isinstance(fault, str):
            raise SchedulerError(
                "give 'fault' (see the 'faults' query) with 'instrument' or 'slot', or "
                "'query': 'state' | 'faults'"
            )
        if "slot" in request:
            return self._slot_fault(str(request["slot"]), fault)
        name = request.get("instrument")
        if name not in self.served:
            raise SchedulerError(f"no instrument {name!r}; instruments: {', '.join(self.served)}")
        served = self.served[name]
        faults = FAULTS[served.kind.kind]
        if fault not in faults:
            raise SchedulerError(
                f"{name} ({served.kind.kind}) has no fault {fault!r}; its faults: "
                f"{', '.join(faults)}"
            )
        if fault == "clear":
            served.simulator.clear()
        else:
            params = {key: request[key] for key in FAULT_PARAMS if key in request}
            served.simulator.inject(fault, **params)
        value = request.get("value")
        log.warning("fault injected: %s %s%s", name, fault, "" if value is None else f"={value}")
        return {"instrument": name, "fault": fault}

    def _slot_fault(self, slot: str, fault: str) -> dict[str, Any]:
        cell = self.cells.get(slot)
        if cell is None:
            raise SchedulerError(f"no slot {slot!r}; slots: {', '.join(self.cells)}")
        if fault not in SLOT_FAULTS:
            raise SchedulerError(f"slot fault {fault!r} is not one of {', '.join(SLOT_FAULTS)}")
        {"open": cell.open, "short": cell.short, "clear": cell.reset_faults}[fault]()
        log.warning("fault injected: slot %s %s", slot, fault)
        return {"slot": slot, "fault": fault}

    def state(self) -> dict[str, Any]:
        """What the simulation knows and the instruments only measure (for tests and demos)."""
        for sim_bench in self.benches:
            sim_bench.sync()
        out: dict[str, Any] = {
            "time_s": self.clock.now(),
            "chambers": {},
            "rigs": {},
            "potentiostats": {},
            "slots": {},
        }
        for served in self.served.values():
            out[f"{served.kind.role}s"][served.name] = served.simulator.state()
        for name, cell in self.cells.items():
            out["slots"][name] = {
                "preset": self.presets[name],
                "temperature_degC": cell.temperature_degC,
                "pressure_MPa": cell.pressure_MPa,
                "soc": cell.soc,
                "fault": cell.fault,
            }
        return out


async def serve_bench(
    path: str | Path,
    *,
    write_bench: str | Path | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve a bench file until `stop` is set (or SIGTERM/SIGINT arrives)."""
    import signal

    bench = Bench.load(path, free_ports=True)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
    simulation = BenchSimulation(bench)
    target = Path(write_bench) if write_bench else None
    try:
        await simulation.start()
        if target is not None:
            _write_atomically(target, simulation.resolved_text())
            log.info("resolved bench file written to %s", target)
        control = simulation.control_address
        log.info(
            "bench %s ready: %d instruments, %d slots, time scale %g%s",
            bench.name,
            len(simulation.served),
            len(bench.slots),
            simulation.sim.time_scale,
            f", fault control on tcp://{control[0]}:{control[1]}" if control else "",
        )
        await stop.wait()
        log.info("stopping the simulated bench")
    finally:
        await simulation.stop()
        if target is not None:
            _remove(target)
        for signum in handled:
            loop.remove_signal_handler(signum)
