"""`cellbench ack [ALARM|--all]`: acknowledge latched alarms (who and when are recorded)."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from scheduler.cli import app, options
from scheduler.cli.output import console, emit
from scheduler.cli.status_cmd import alarm_row
from scheduler.errors import SchedulerError


def _alarm(a: Any) -> dict[str, Any]:
    return {
        **alarm_row(a),
        "acked_at": options.local_time(a.acked_at),
        "acked_by": a.acked_by,
    }


@app.command("ack")
def ack(
    alarm: int | None = typer.Argument(None, metavar="[ALARM]", help="Alarm number."),
    all_: bool = typer.Option(False, "--all", help="Acknowledge every active alarm."),
    bench: str | None = typer.Option(None, "--bench", help="With --all: only this bench's."),
    by: str | None = options.BY_OPTION,
    db: str | None = options.DB_OPTION,
    as_json: bool = options.JSON_OPTION,
) -> None:
    """Acknowledge a latched alarm (or all); without arguments, list the active ones."""
    from scheduler import queue

    if alarm is not None and all_:
        raise SchedulerError("give an alarm number or --all, not both")
    with options.open_db(db) as store:
        if alarm is None and not all_:
            rows = [_alarm(a) for a in queue.active_alarms(store, bench)]

            def render_active(data: list[dict[str, Any]]) -> None:
                if not data:
                    console.print("No active alarms.")
                    return
                table = Table("alarm", "at", "where", "kind", "message")
                for a in data:
                    where = "/".join(x for x in (a["bench"], a["slot"]) if x) or "-"
                    table.add_row(str(a["id"]), a["at"], where, a["kind"], a["message"])
                console.print(table)
                console.print("acknowledge with: cellbench ack ALARM (or --all)")

            emit(rows, as_json, render_active)
            return
        who = by or options.default_user()
        done = queue.ack(store, "all" if alarm is None else alarm, by=who, bench=bench)
        earlier = None
        if alarm is not None and not done:
            earlier = _alarm(store.get_event(alarm))
    data = {"acknowledged": [_alarm(a) for a in done], "by": who, "already": earlier}

    def render(d: dict[str, Any]) -> None:
        if d["already"]:
            a = d["already"]
            console.print(
                f"alarm {a['id']} was already acknowledged by {a['acked_by']} at {a['acked_at']}"
            )
        elif not d["acknowledged"]:
            console.print("No active alarms to acknowledge.")
        for a in d["acknowledged"]:
            console.print(f"acknowledged alarm {a['id']} ({a['kind']}: {a['message']})")

    emit(data, as_json, render)
