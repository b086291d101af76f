"""Shared checks for the paper tests: every expectation met, every run complete, plots written."""

from __future__ import annotations

from pathlib import Path

from scheduler.sim.papers import PaperResult, procedures, run_paper
from storage import open_store


async def reproduce(
    tmp_path: Path, paper: str, only: list[str] | None = None
) -> tuple[PaperResult, dict[str, dict]]:
    """Run `paper`'s procedures (those in `only`) and `check` them: the result, and its rows."""
    store = open_store(f"sqlite:///{tmp_path}/{paper}.db")
    result = await run_paper(store, paper, output_dir=tmp_path / "plots", only=only)
    return result, check(result, tmp_path)


def reported(rows: dict[str, dict]) -> dict[str, float]:
    """The paper's own number for each quantity."""
    return {quantity: row["reported"] for quantity, row in rows.items()}


def check(result: PaperResult, tmp_path: Path) -> dict[str, dict]:
    """Assert each run completed and each reported number is met; rows by quantity."""
    for run in result.runs:
        assert run.status == "completed", f"{run.procedure.key}: {run.message}"
    expected = [
        e.quantity
        for p in procedures(result.paper)
        if p.key in {r.procedure.key for r in result.runs}
        for e in p.expectations
    ]
    rows = {row["quantity"]: row for row in result.rows}
    assert list(rows) == expected
    for row in rows.values():
        assert row["measured"] is not None, row["quantity"]
        assert row["within"], (
            f"{row['quantity']}: measured {row['measured']:.4g} vs reported "
            f"{row['reported']:.4g} {row['unit']} ({row['tolerance']})"
        )
    assert result.plots and all(
        p.is_file() and p.parent == tmp_path / "plots" for p in result.plots
    )
    return rows
