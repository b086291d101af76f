"""`cellbench demo`: a simulated bench running a gao2025-style protocol end to end."""

from __future__ import annotations

from scheduler.cli import app


@app.command()
def demo() -> None:
    """Run a few cycles of a gao2025-style protocol on a simulated NCM811 cell."""
    raise NotImplementedError
