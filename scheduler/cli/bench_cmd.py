"""`cellbench bench check FILE`: validate a bench file, then talk to every instrument in it."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import typer

from scheduler.cli import app
from scheduler.cli.output import console, emit
from scheduler.errors import SchedulerError

bench_app = typer.Typer(help="Check bench files.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


async def check_instrument(bench: Any, name: str, timeout_s: float) -> dict[str, Any]:
    """Connect to one instrument and identify it; never raises, reports the error instead."""
    from drivers.errors import InstrumentError
    from scheduler.instruments import build_instrument, open_instrument
    from scheduler.kinds import kind_of

    config = bench.instrument(name)
    kind = kind_of(config)
    row: dict[str, Any] = {
        "name": name,
        "kind": kind.kind,
        "endpoints": kind.endpoints_of(config),
        "ok": False,
        "identity": None,
        "reading": "",
        "error": None,
    }
    driver = None
    try:
        async with asyncio.timeout(timeout_s):
            driver = build_instrument(bench, name)
            await open_instrument(driver)
            row["identity"], row["reading"] = await kind.probe(driver)
        row["ok"] = True
    except TimeoutError:
        row["error"] = f"{name} did not answer within {timeout_s:g} s"
    except (InstrumentError, SchedulerError) as exc:
        row["error"] = str(exc)
    except Exception as exc:  # a driver bug must not hide the other instruments' results
        row["error"] = f"{name}: {type(exc).__name__}: {exc}"
    finally:
        if driver is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(driver.close(), 2.0)
    return row


async def check_bench(bench: Any, timeout_s: float) -> list[dict[str, Any]]:
    """Every instrument of the bench, checked at the same time."""
    return list(
        await asyncio.gather(*(check_instrument(bench, n, timeout_s) for n in bench.instruments))
    )


def _identity_text(identity: dict[str, str] | None) -> str:
    if not identity:
        return ""
    parts = [identity.get("vendor", ""), identity.get("model", "")]
    text = " ".join(p for p in parts if p)
    if identity.get("serial"):
        text += f", serial {identity['serial']}"
    if identity.get("firmware"):
        text += f", firmware {identity['firmware']}"
    return text


@bench_app.command("check")
def check(
    file: Path = typer.Argument(..., help="Bench file (TOML)."),
    timeout: float = typer.Option(5.0, "--timeout", help="Seconds each instrument may take."),
    connect: bool = typer.Option(
        True, "--connect/--no-connect", help="Connect to every instrument after validating."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Validate FILE, then connect to every instrument and report its identity or error."""
    from scheduler.bench import Bench

    if not timeout > 0:
        raise SchedulerError("--timeout must be positive")
    bench = Bench.load(file)
    rows = asyncio.run(check_bench(bench, timeout)) if connect else []
    failed = [row["name"] for row in rows if not row["ok"]]
    data = {
        "file": str(file),
        "bench": bench.name,
        "valid": True,
        "connected": connect,
        "ok": not failed,
        "slots": [
            {
                "name": s.name,
                "potentiostat": s.potentiostat,
                "channel": s.channel,
                "chamber": s.chamber,
                "rig": s.rig,
                "cell_area_mm2": s.cell_area_mm2,
                "limits": s.limits.model_dump(),
            }
            for s in bench.slots
        ],
        "instruments": rows or [{"name": n, "kind": c.kind} for n, c in bench.instruments.items()],
    }

    def render(_: object) -> None:
        plural = "" if len(bench.slots) == 1 else "s"
        console.print(
            f"[bold green]✓[/] {file}: bench [bold]{bench.name}[/] is valid "
            f"({len(bench.instruments)} instruments, {len(bench.slots)} slot{plural})"
        )
        if not connect:
            return
        for row in rows:
            where = ", ".join([row["kind"], *row["endpoints"].values()])
            if row["ok"]:
                reading = f"; {row['reading']}" if row["reading"] else ""
                console.print(
                    f"  [green]✓[/] [bold]{row['name']}[/] ({where}): "
                    f"{_identity_text(row['identity'])}{reading}",
                    highlight=False,
                )
            else:
                console.print(
                    f"  [red]✗[/] [bold]{row['name']}[/] ({where}): [red]{row['error']}[/]",
                    highlight=False,
                )

    emit(data, as_json, render)
    if failed:
        raise SchedulerError(
            f"{len(failed)} of {len(rows)} instruments did not answer: {', '.join(failed)}"
        )
