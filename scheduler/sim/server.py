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

The state answer carries the plants' true values (chamber air, stack pressure, cell SOC) and,
per potentiostat, whether it drives its cell (`cell_on`) and runs a script.

`FAULTS` lists the fault names per instrument kind, with what they do.
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

from scheduler.bench import (
    Bench,
    EmStat4Config,
    EspecConfig,
    Keithley2450Config,
    PressureRigConfig,
    WatlowF4TConfig,
    endpoint_fields,
    replace_endpoints,
    tcp_address,
    to_toml,
    with_port,
)
from scheduler.errors import SchedulerError

log = logging.getLogger("cellbench.sim")

DEFAULT_PRESET = "gao2025-dfncm-llzo"
CONNECTION_POLL_S = 0.2

_LINK = {
    "drop": "cut the host connections now (the instrument keeps its state)",
    "stall": "stop answering (until 'clear')",
    "clear": "undo every fault on this instrument",
}
FAULTS: dict[str, dict[str, str]] = {
    "chamber": {
        "heater-failure": "the heater stops: the air drifts and cannot reach a hot setpoint",
        "overshoot": "the controller runs away `value` K (default 5) above its setpoint",
        "sensor-dropout": "the temperature sensor gives no reading",
        **_LINK,
    },
    "rig": {
        "leak": "the cylinder loses `value` (0-1, default 0.5) of its supply pressure",
        "load-cell-drift": "the load cell drifts `value` N/h (default 500)",
        "valve-stuck-open": "the controller's valve sticks open",
        **_LINK,
    },
    "emstat4": {
        "drop": "clean connection drop now, or after `after` data packages",
        "drop-abrupt": "drop losing the lines in flight, after `after` packages (default 0)",
        "unplug": "clean drop with the port gone for 2 s, after `after` packages",
        "stall": "stop answering now (or after `after` packages) until 'clear'",
        "corrupt": "the data package after `after` more arrives corrupted",
        "error": "the running script fails with instrument error `code` (hex, default 4010)",
        "short": "the cell shorts after `after` packages",
        "open": "the cell circuit opens after `after` packages",
        "clear": "undo every fault on this instrument",
    },
    "keithley2450": {
        "drop": "cut the host connection now",
        "stall": "go silent for `value` wall seconds (default 5)",
        "error": "queue instrument error `code` (default -113) with `message`",
        "corrupt": "garble the reply to the `after`-th next :READ? (default 0)",
        "clear": "undo every fault on this instrument",
    },
    "slot": {
        "open": "the slot's cell circuit opens",
        "short": "the slot's cell shorts",
        "clear": "the cell is whole again",
    },
}


@dataclass
class _Served:
    """One simulated instrument: its simulator(s), plant and bound endpoints."""

    name: str
    kind: str
    simulators: dict[str, Any]  # endpoint field -> simulator
    plant: Any = None
    bound: dict[str, str] = field(default_factory=dict)  # endpoint field -> endpoint
    links: list[Path] = field(default_factory=list)
    seen: int = 0


def _connections(simulator: Any) -> int:
    """How many host connections a simulator has accepted so far."""
    count = getattr(simulator, "connections", None)
    if count is None:
        count = getattr(getattr(simulator, "server", None), "connections", None)
    if count is None:  # the Modbus server only knows its open connections
        server = getattr(simulator, "_server", None)
        count = len(getattr(server, "active_connections", {}) or {})
    return int(count)


def _link_faults(simulator: Any, fault: str) -> None:
    server = getattr(simulator, "server", None)  # a LineServer
    if fault == "drop":
        (server or simulator).drop_connections()
    elif fault == "stall":
        (server or simulator).stalled = True
    elif fault == "clear":
        (server or simulator).stalled = False


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
            users = self.bench.slots_in(name)
            if config.kind in ("emstat4", "keithley2450") and len(users) > 1:
                out.append(
                    f"instruments.{name}: the simulator gives each potentiostat one cell, but "
                    f"slots {', '.join(s.name for s in users)} share it"
                )
            if isinstance(config, Keithley2450Config) and tcp_address(config.endpoint) is None:
                out.append(
                    f"instruments.{name}.endpoint: the Keithley 2450 simulator serves only "
                    "TCPIP0::host::port::SOCKET resources"
                )
            if isinstance(config, PressureRigConfig):
                chambers = {s.chamber for s in users}
                if len(chambers) > 1:
                    out.append(
                        f"instruments.{name}: its slots sit in different chambers "
                        f"({', '.join(sorted(str(c) for c in chambers))}); one press is in "
                        "one place"
                    )
        for slot in self.bench.slots:
            spec = self.sim.cells.get(slot.name)
            try:
                self._cell_params(spec)
            except Exception as exc:
                out.append(f"simulation.cells.{slot.name}: {exc}")
        return out

    @staticmethod
    def _cell_params(spec: Any) -> Any:
        from simulators.cell import load_preset

        params = load_preset(spec.preset if spec else DEFAULT_PRESET)
        if spec is not None and spec.overrides:
            params = params.with_overrides(dict(spec.overrides))
        return params

    def _build(self) -> None:
        from simulators.alicat import AlicatSimulator
        from simulators.bench import SimulatedBench
        from simulators.cell import make_cell
        from simulators.clock import SimClock
        from simulators.emstat4 import EmStat4Simulator
        from simulators.espec import EspecSimulator
        from simulators.keithley2450 import Keithley2450Simulator
        from simulators.mark10 import Mark10Simulator
        from simulators.press import PressParams, PressPlant
        from simulators.thermal import ChamberPlant, ThermalParams
        from simulators.watlow import WatlowSimulator

        problems = self._problems()
        if problems:
            source = self.bench.source or "the bench file"
            raise SchedulerError(
                "\n".join([f"{source} cannot be simulated:", *(f"  {p}" for p in problems)])
            )
        sim, bench = self.sim, self.bench
        self.clock = clock = SimClock(sim.time_scale)
        chamber_plants: dict[str, Any] = {}
        press_plants: dict[str, Any] = {}
        for name, config in bench.instruments.items():
            if isinstance(config, EspecConfig | WatlowF4TConfig):
                plant = ChamberPlant(ThermalParams(), start_degC=sim.start_degC, seed=sim.seed)
                plant.set_setpoint(sim.start_degC)
                plant.set_mode("CONSTANT")
                chamber_plants[name] = plant
            elif isinstance(config, PressureRigConfig):
                users = bench.slots_in(name)
                area = next((s.cell_area_mm2 for s in users if s.cell_area_mm2), None)
                extra = {"friction_N": config.friction_N} if config.friction_N else {}
                params = PressParams(
                    piston_area_mm2=config.piston_area_mm2,
                    **({"cell_area_mm2": area} if area else {}),
                    **extra,
                )
                press_plants[name] = PressPlant(params, seed=sim.seed)
        # One SimulatedBench per chamber, carrying the first press whose slots sit in it (its
        # load cell then feels the chamber's air); any other press gets a bench of its own.
        rig_chamber = {
            name: next((s.chamber for s in bench.slots_in(name)), None) for name in press_plants
        }
        by_chamber: dict[str, Any] = {}
        by_rig: dict[str, Any] = {}
        for name, plant in chamber_plants.items():
            rig = next((r for r, c in rig_chamber.items() if c == name), None)
            by_chamber[name] = SimulatedBench(
                clock, chamber=plant, press=press_plants[rig] if rig else None
            )
            if rig is not None:
                by_rig[rig] = by_chamber[name]
        for rig, plant in press_plants.items():
            by_rig.setdefault(rig, SimulatedBench(clock, press=plant))
        self.benches = list({id(b): b for b in [*by_chamber.values(), *by_rig.values()]}.values())

        for index, slot in enumerate(bench.slots):
            spec = sim.cells.get(slot.name)
            seed = spec.seed if spec and spec.seed is not None else (sim.seed or 0) + index
            cell = make_cell(
                self._cell_params(spec),
                soc=spec.soc if spec else None,
                temperature_degC=sim.start_degC,
                seed=seed,
            )
            self.cells[slot.name] = cell
            self.presets[slot.name] = spec.preset if spec else DEFAULT_PRESET
            in_chamber = by_chamber.get(slot.chamber) if slot.chamber else None
            in_rig = by_rig.get(slot.rig) if slot.rig else None
            if in_chamber is not None:
                in_chamber.add_cell(cell, in_press=in_chamber is in_rig)
            if in_rig is not None and in_rig is not in_chamber:
                in_rig.add_cell(cell, in_press=True)

        def sync_for(name: str) -> Any:
            owner = by_chamber.get(name) or by_rig.get(name)
            return owner.sync if owner is not None else None

        for index, (name, config) in enumerate(bench.instruments.items(), start=1):
            users = bench.slots_in(name)
            if isinstance(config, EmStat4Config | Keithley2450Config):
                cell = (
                    self.cells[users[0].name]
                    if users
                    else make_cell(
                        self._cell_params(None), temperature_degC=sim.start_degC, seed=index
                    )
                )
                if isinstance(config, EmStat4Config):
                    simulator: Any = EmStat4Simulator(
                        cell, clock=clock, serial=f"ES4HR-SIM-{index:04d}"
                    )
                else:
                    simulator = Keithley2450Simulator(
                        cell, clock=clock, serial=f"0451{index:04d}", seed=index
                    )
                self.served[name] = _Served(name, config.kind, {"endpoint": simulator})
            elif isinstance(config, EspecConfig | WatlowF4TConfig):
                plant = chamber_plants[name]
                make = EspecSimulator if isinstance(config, EspecConfig) else WatlowSimulator
                simulator = make(plant, clock, sync=sync_for(name))
                self.served[name] = _Served(name, config.kind, {"endpoint": simulator}, plant)
            elif isinstance(config, PressureRigConfig):
                plant = press_plants[name]
                sync = sync_for(name)
                self.served[name] = _Served(
                    name,
                    config.kind,
                    {
                        "controller": AlicatSimulator(
                            plant,
                            clock,
                            sync=sync,
                            unit_id=config.unit_id.upper(),
                            full_scale_psig=config.full_scale_psig,
                        ),
                        "gauge": Mark10Simulator(plant, clock, sync=sync),
                    },
                    plant,
                )

    # -- serving ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Build everything, bind every endpoint and start the plants."""
        self._build()
        try:
            for served in self.served.values():
                config = self.bench.instrument(served.name)
                for key, simulator in served.simulators.items():
                    endpoint = getattr(config, key)
                    served.bound[key] = await self._bind(served, key, simulator, endpoint)
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
        what = f"{served.name} ({served.kind}{'' if key == 'endpoint' else ' ' + key})"
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
                f"{served.name}: the {served.kind} simulator cannot serve the serial path {path}"
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
                count = sum(_connections(s) for s in served.simulators.values())
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
            for simulator in served.simulators.values():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(simulator.stop(), 3.0)
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
        return header + to_toml(replace_endpoints(raw, new))

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
        role = {"espec": "chamber", "watlow-f4t": "chamber", "pressure-rig": "rig"}.get(
            served.kind, served.kind
        )
        if fault not in FAULTS[role]:
            raise SchedulerError(
                f"{name} ({served.kind}) has no fault {fault!r}; its faults: "
                f"{', '.join(FAULTS[role])}"
            )
        value = request.get("value")
        after = request.get("after")
        if role == "chamber":
            self._chamber_fault(served, fault, value)
        elif role == "rig":
            self._rig_fault(served, fault, value)
        elif role == "emstat4":
            self._emstat4_fault(served.simulators["endpoint"], fault, after, request.get("code"))
        else:
            self._keithley_fault(served.simulators["endpoint"], fault, value, after, request)
        log.warning("fault injected: %s %s%s", name, fault, "" if value is None else f"={value}")
        return {"instrument": name, "fault": fault}

    def _slot_fault(self, slot: str, fault: str) -> dict[str, Any]:
        cell = self.cells.get(slot)
        if cell is None:
            raise SchedulerError(f"no slot {slot!r}; slots: {', '.join(self.cells)}")
        if fault not in FAULTS["slot"]:
            raise SchedulerError(f"slot fault {fault!r} is not one of {', '.join(FAULTS['slot'])}")
        {"open": cell.open, "short": cell.short, "clear": cell.reset_faults}[fault]()
        log.warning("fault injected: slot %s %s", slot, fault)
        return {"slot": slot, "fault": fault}

    @staticmethod
    def _number(value: Any, default: float) -> float:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SchedulerError(f"'value' must be a number, not {value!r}")
        return float(value)

    def _chamber_fault(self, served: _Served, fault: str, value: Any) -> None:
        from simulators.thermal import ChamberFaults

        plant = served.plant
        if fault == "heater-failure":
            plant.faults.heater_failed = True
        elif fault == "overshoot":
            plant.faults.overshoot_K = self._number(value, 5.0)
        elif fault == "sensor-dropout":
            plant.faults.sensor_dropout = True
        else:
            if fault == "clear":
                plant.faults = ChamberFaults()
            _link_faults(served.simulators["endpoint"], fault)

    def _rig_fault(self, served: _Served, fault: str, value: Any) -> None:
        from simulators.press import PressFaults

        plant = served.plant
        if fault == "leak":
            fraction = self._number(value, 0.5)
            if not 0 <= fraction <= 1:
                raise SchedulerError(f"a leak is a fraction of the supply, 0-1, not {fraction}")
            plant.faults.leak_fraction = fraction
        elif fault == "load-cell-drift":
            plant.faults.load_cell_drift_N_per_h = self._number(value, 500.0)
        elif fault == "valve-stuck-open":
            plant.faults.valve_stuck_open = True
        else:
            if fault == "clear":
                plant.faults = PressFaults()
            for simulator in served.simulators.values():
                _link_faults(simulator, fault)

    @staticmethod
    def _emstat4_fault(simulator: Any, fault: str, after: Any, code: Any) -> None:
        from simulators.emstat4 import Faults, parse_fault

        if after is not None and (isinstance(after, bool) or not isinstance(after, int)):
            raise SchedulerError(f"'after' must be a whole number of data packages, not {after!r}")
        if fault == "clear":
            simulator.faults = Faults()
            simulator.stall(False)
            return
        if after is None and fault == "drop":
            simulator.drop_connection()
            return
        if after is None and fault == "stall":
            simulator.stall(True)
            return
        text = fault
        if fault == "error" and code is not None:
            text += f"={int(code, 16) if isinstance(code, str) else int(code):04X}"
        parse_fault(f"{text}@{after or 0}").arm(simulator)

    @staticmethod
    def _keithley_fault(
        simulator: Any, fault: str, value: Any, after: Any, request: dict[str, Any]
    ) -> None:
        from simulators.keithley2450.server import Faults

        if fault == "drop":
            simulator.drop_connection()
        elif fault == "stall":
            simulator.stall(BenchSimulation._number(value, 5.0))
        elif fault == "error":
            simulator.inject_error(
                int(request.get("code", -113)), str(request.get("message", "Undefined header"))
            )
        elif fault == "corrupt":
            simulator.faults.corrupt_after_reads = int(after or 0)
        elif fault == "clear":
            simulator.faults = Faults()

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
            plant = served.plant
            if served.kind in ("emstat4", "keithley2450"):
                out["potentiostats"][served.name] = _potentiostat_state(
                    served.simulators["endpoint"]
                )
            if served.kind in ("espec", "watlow-f4t"):
                out["chambers"][served.name] = {
                    "air_degC": plant.air_degC,
                    "setpoint_degC": plant.current_setpoint(),
                    "mode": plant.mode,
                    "faults": vars(plant.faults),
                }
            elif served.kind == "pressure-rig":
                out["rigs"][served.name] = {
                    "stack_pressure_MPa": plant.stack_pressure_MPa,
                    "gas_Pa": plant.gas_Pa,
                    "faults": vars(plant.faults),
                }
        for name, cell in self.cells.items():
            out["slots"][name] = {
                "preset": self.presets[name],
                "temperature_degC": cell.temperature_degC,
                "pressure_MPa": cell.pressure_MPa,
                "soc": cell.soc,
                "fault": cell.fault,
            }
        return out


def _potentiostat_state(simulator: Any) -> dict[str, Any]:
    """Whether a simulated potentiostat drives its cell, and its link (for safety tests)."""
    machine = getattr(simulator, "machine", None)
    if machine is not None:  # EmStat4: the MethodSCRIPT engine
        cell_on, script = bool(machine.cell_on), bool(simulator.running)
    else:  # Keithley 2450: the output relay
        cell_on, script = bool(simulator.output_on), False
    return {
        "cell_on": cell_on,
        "script_running": script,
        "connections": _connections(simulator),
        "drops": int(getattr(simulator, "drops", 0)),
    }


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
