"""The simulated demo: a gao2025-style protocol on a simulated NCM811 cell, end to end.

Everything is real except the hardware: the EmStat4 driver talks MethodSCRIPT over TCP to
the EmStat4 simulator, whose cell model is the gao2025 DFNCM/LLZO preset; the runner
streams every sample into the database, and the analysis reads them back from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import protocols
from protocols.analysis import cycle_summary
from protocols.analysis.plots import voltage_vs_capacity
from scheduler.binding import CellInfo
from scheduler.run_state import Progress, RunResult
from scheduler.session import run_protocol
from scheduler.sim.bench import simulated_emstat4
from storage import AsyncStore

DEMO_PRESET = "gao2025-dfncm-llzo"


def demo_protocol_path() -> Path:
    return Path(str(resources.files("protocols") / "library" / "demo" / "gao2025-short.yaml"))


@dataclass
class DemoResult:
    run_id: int
    result: RunResult
    cycles: list[Any]
    plot: Path
    cell: CellInfo
    protocol_name: str


async def run_demo(
    db: Any,
    *,
    output_dir: Path,
    time_scale: float,
    preset: str = DEMO_PRESET,
    progress: Progress | None = None,
) -> DemoResult:
    db = AsyncStore.of(db)
    protocol = protocols.load(demo_protocol_path())
    async with simulated_emstat4(preset, time_scale=time_scale) as channel:
        params = channel.params
        cell = CellInfo.from_preset(params, f"demo {params.name}")
        run_id, result = await run_protocol(
            db,
            protocol,
            cell,
            channel.driver,
            slot="demo",
            bench="in-process simulated bench",
            progress=progress,
            metadata={"preset": preset, "time_scale": time_scale},
        )
    samples = await db.read_samples(run_id)
    cycles = cycle_summary(samples, active_mass_g=cell.active_mass_g, area_cm2=cell.area_cm2)
    plot = voltage_vs_capacity(
        samples,
        output_dir / f"demo-run{run_id}-voltage-capacity.png",
        active_mass_g=cell.active_mass_g,
        title="Voltage vs capacity (simulated, gao2025-style)",
        cell=cell.name,
        protocol=protocol.name,
    )
    return DemoResult(run_id, result, cycles, plot, cell, protocol.name)
