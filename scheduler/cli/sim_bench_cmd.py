"""`cellbench sim --bench FILE`: serve every instrument of a bench file from simulators.

This is the `sim` group's own callback, so `cellbench sim presets` and `cellbench sim run`
keep working; given no subcommand and `--bench`, it serves the bench in the foreground
until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import typer

from scheduler.cli.sim_cmd import sim_app
from scheduler.errors import SchedulerError


@sim_app.callback(invoke_without_command=True)
def sim(
    ctx: typer.Context,
    bench: Path | None = typer.Option(
        None,
        "--bench",
        help="Serve every instrument of this bench file (its \\[simulation] section says how).",
    ),
    write_bench: Path | None = typer.Option(
        None,
        "--write-bench",
        help="Write the bench file with the endpoints actually bound (port 0 = any free port) "
        "here once everything listens; removed on exit.",
    ),
    verbose: bool = typer.Option(False, "--verbose", help="Also log every line on the wire."),
) -> None:
    """Simulated instruments and cells: `--bench FILE` serves a whole simulated bench."""
    if ctx.invoked_subcommand is not None:
        if bench is not None or write_bench is not None:
            raise SchedulerError(
                f"--bench serves a simulated bench on its own; give it without "
                f"`{ctx.invoked_subcommand}`"
            )
        return
    if bench is None:
        if write_bench is not None:
            raise SchedulerError("--write-bench needs --bench FILE")
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    from scheduler.sim.server import serve_bench

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if verbose:
        logging.getLogger("cellbench.wire").setLevel(logging.DEBUG)
    asyncio.run(serve_bench(bench, write_bench=write_bench))
