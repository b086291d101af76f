"""Cycling speed: the whole simulated stack, the stack without storage, the cell model alone,
and PyBaMM's SPM on the same experiment, all measured in the same run.

The experiment: CC charge at 0.5C to 4.3 V, CC discharge at 0.5C to 3.0 V, one point every
10 s, repeated `--cycles` times, on the gao2025-dfncm-llzo preset (1C = 200 mA/g).

- stack + SQLite: `Runner` + EmStat4 driver + EmStat4 simulator over TCP at time_scale=inf,
  every sample stored in a SQLite file (the same path `cellbench sim run` takes);
- stack, no storage: the same driver and simulator over TCP, steps run straight from
  `EmStat4.run`, samples counted and dropped;
- cell model: `Cell.step(10 s, I)` in a Python loop with the same limits, no wire;
- PyBaMM SPM: `pybamm.Simulation(SPM, experiment)` with the Chen2020 parameter set (a
  graphite | NMC811 full cell: PyBaMM has no preset for this half cell) on the same
  experiment and output period, for `--pybamm-cycles` cycles (fewer when it is slow; the
  figure is scaled per cycle and the table says so).

Each figure is the median of `--repeats` runs, as wall time and as the process's CPU time
(all threads), which a busy machine disturbs less. Ratios are against the cell model alone.

    .venv/bin/python benchmarks/bench_cycles.py [--cycles 100] [--repeats 3] [--pybamm-cycles 100]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PRESET = "gao2025-dfncm-llzo"
RATE_C = 0.5
V_MAX, V_MIN = 4.3, 3.0
DT_S = 10.0


@dataclass
class Timed:
    wall_s: float
    cpu_s: float
    samples: int


class Stopwatch:
    """Wall and process CPU time (all threads) over one block."""

    def __enter__(self) -> Stopwatch:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self.wall0
        self.cpu_s = time.process_time() - self.cpu0


@dataclass
class Figure:
    name: str
    seconds: list[float]
    cpu_seconds: list[float]
    cycles: int
    samples: int
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def per_cycle(self) -> float:
        return self.median / self.cycles

    @property
    def cpu_per_cycle(self) -> float:
        return statistics.median(self.cpu_seconds) / self.cycles


def protocol_text(cycles: int) -> str:
    return f"""name: bench-0.5C-cycles
c_rate_basis: 200 mA h/g
safety: {{voltage_min: 2.8 V, voltage_max: 4.4 V, abs_current_max: 1C}}
steps:
  - repeat:
      times: {cycles}
      steps:
        - cc: {{rate: {RATE_C}C, direction: charge, until: [{{voltage: ">= {V_MAX} V"}}],
               record: {{dt: {DT_S:g} s}}}}
        - cc: {{rate: {RATE_C}C, direction: discharge, until: [{{voltage: "<= {V_MIN} V"}}],
               record: {{dt: {DT_S:g} s}}}}
        - advance_cycle: {{}}
"""


async def stack_with_storage(cycles: int, workdir: Path) -> Timed:
    import protocols
    from scheduler.binding import CellInfo
    from scheduler.session import run_protocol
    from scheduler.sim.bench import simulated_emstat4
    from storage import open_store

    path = workdir / f"cycles-{time.monotonic_ns()}.yaml"
    path.write_text(protocol_text(cycles))
    protocol = protocols.load(path)
    store = open_store(f"sqlite:///{workdir / f'runs-{time.monotonic_ns()}.db'}")
    async with simulated_emstat4(PRESET) as channel:
        params = channel.params
        cell = CellInfo(
            name="bench",
            active_mass_g=params.active_mass_g,
            specific_capacity_mAh_g=params.c_rate_basis_mAh_g,
        )
        with Stopwatch() as watch:
            run_id, result = await run_protocol(store, protocol, cell, channel.driver)
    if result.status != "completed":
        raise SystemExit(f"benchmark run failed: {result.message}")
    samples = len(store.read_samples(run_id, columns=["voltage_V"])["voltage_V"])
    return Timed(watch.wall_s, watch.cpu_s, samples)


async def stack_without_storage(cycles: int) -> Timed:
    from drivers.potentiostat import Sample, StepCommand, StepLimit
    from scheduler.sim.bench import simulated_emstat4

    async with simulated_emstat4(PRESET) as channel:
        current = RATE_C * channel.cell.one_c_A
        charge = StepCommand(
            "cc",
            duration_s=20 * 3600,
            current_A=current,
            limits=(StepLimit("voltage", ">=", V_MAX),),
            sample_interval_s=DT_S,
        )
        discharge = StepCommand(
            "cc",
            duration_s=20 * 3600,
            current_A=-current,
            limits=(StepLimit("voltage", "<=", V_MIN),),
            sample_interval_s=DT_S,
        )
        count = 0
        with Stopwatch() as watch:
            for _ in range(cycles):
                for command in (charge, discharge):
                    async for item in channel.driver.run(command):
                        count += isinstance(item, Sample)
        return Timed(watch.wall_s, watch.cpu_s, count)


def cell_model_alone(cycles: int) -> Timed:
    from simulators.cell import Cell, CellParameters, load_preset

    params = load_preset(PRESET)
    assert isinstance(params, CellParameters), f"{PRESET} is not a cell preset"
    cell = Cell(params, seed=1)
    current = RATE_C * cell.one_c_A
    count = 0
    with Stopwatch() as watch:
        for _ in range(cycles):
            while True:
                count += 1
                if cell.step(DT_S, current) >= V_MAX:
                    break
            while True:
                count += 1
                if cell.step(DT_S, -current) <= V_MIN:
                    break
    return Timed(watch.wall_s, watch.cpu_s, count)


def pybamm_spm(cycles: int) -> Timed:
    import pybamm

    pybamm.set_logging_level("ERROR")
    experiment = pybamm.Experiment(
        [
            (
                f"Charge at {RATE_C}C until {V_MAX} V",
                f"Discharge at {RATE_C}C until {V_MIN} V",
            )
        ]
        * cycles,
        period=f"{DT_S:g} seconds",
    )
    model = pybamm.lithium_ion.SPM()
    params = pybamm.ParameterValues("Chen2020")
    with Stopwatch() as watch, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        simulation = pybamm.Simulation(model, parameter_values=params, experiment=experiment)
        solution = simulation.solve(initial_soc=0.0)
    done = len(solution.cycles)
    if done < cycles:
        raise SystemExit(f"PyBaMM stopped after {done} of {cycles} cycles")
    return Timed(watch.wall_s, watch.cpu_s, len(solution["Time [s]"].entries))


def repeat(name: str, runs: int, cycles: int, fn: Callable[[], Timed], note: str = "") -> Figure:
    """Run fn `runs` times; each run times only its own cycling, in wall and CPU seconds."""
    seconds, cpu, samples = [], [], 0
    for _ in range(runs):
        timed = fn()
        seconds.append(timed.wall_s)
        cpu.append(timed.cpu_s)
        samples = timed.samples
    figure = Figure(name, seconds, cpu, cycles, samples, note)
    print(
        f"  {name}: median {figure.median:.2f} s wall over {runs} runs "
        f"({', '.join(f'{s:.2f}' for s in seconds)}), "
        f"CPU {statistics.median(cpu):.2f} s, {samples} samples",
        flush=True,
    )
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pybamm-cycles", type=int, default=100)
    parser.add_argument("--no-pybamm", action="store_true")
    args = parser.parse_args()
    if args.cycles < 1 or args.repeats < 1 or args.pybamm_cycles < 1:
        raise SystemExit("--cycles, --repeats and --pybamm-cycles must be at least 1")
    n = args.cycles
    print(f"{n} cycles at {RATE_C}C, {V_MIN}-{V_MAX} V, {DT_S:g} s sampling, preset {PRESET}")
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        figures = [
            repeat("cell model alone", args.repeats, n, lambda: cell_model_alone(n)),
            repeat(
                "stack, no storage",
                args.repeats,
                n,
                lambda: asyncio.run(stack_without_storage(n)),
            ),
            repeat(
                "stack + SQLite (Runner)",
                args.repeats,
                n,
                lambda: asyncio.run(stack_with_storage(n, workdir)),
            ),
        ]
    if not args.no_pybamm:
        k = args.pybamm_cycles
        figures.append(
            repeat(
                "PyBaMM SPM (Chen2020)",
                args.repeats,
                k,
                lambda: pybamm_spm(k),
                note=f"{k} cycles, per-cycle time x {n}" if k != n else "",
            )
        )
    base, cpu_base = figures[0].per_cycle, figures[0].cpu_per_cycle
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print()
    print(
        f"| what | wall s, {n} cycles | wall per cycle | CPU per cycle | samples "
        "| x cell model (wall) | x cell model (CPU) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for fig in figures:
        total = fig.per_cycle * n
        scaled = " (scaled)" if fig.cycles != n else ""
        print(
            f"| {fig.name} | {total:.2f}{scaled} | {fig.per_cycle * 1e3:.1f} ms | "
            f"{fig.cpu_per_cycle * 1e3:.1f} ms | {fig.samples} | {fig.per_cycle / base:.2f} | "
            f"{fig.cpu_per_cycle / cpu_base:.2f} |"
        )
    stack = next(f for f in figures if f.name.startswith("stack +"))
    rate = stack.samples / stack.median if stack.median else math.nan
    print(f"\nstack + SQLite: {rate:,.0f} samples/s through driver, simulator, runner, storage")


if __name__ == "__main__":
    main()
