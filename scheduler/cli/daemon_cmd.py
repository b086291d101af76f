"""`cellbench daemon --bench FILE`: the headless daemon of one test bench."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time
from pathlib import Path

import typer

from scheduler.cli import app

# Attributes every LogRecord has; anything else was passed as `extra` and goes in the line.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonLines(logging.Formatter):
    """One JSON object per log line: time, level, logger, message and the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
            + f".{int(record.msecs):03d}",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(line, default=str)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("cellbench.wire").setLevel(
        logging.DEBUG if level.lower() == "debug" else logging.WARNING
    )


@app.command()
def daemon(
    bench: Path = typer.Option(..., "--bench", help="The bench file (TOML)."),
    db: str | None = typer.Option(
        None, envvar="CELLBENCH_DB", help="Database URL (default: the bench file's, else SQLite)."
    ),
    daemon_id: str | None = typer.Option(None, "--id", help="Name of this daemon in the queue."),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
    poll_s: float | None = typer.Option(None, help="Seconds between queue checks."),
) -> None:
    """Run the bench's queue headless: claim jobs, run them, watch the instruments, recover.

    Logs one JSON object per line on stderr. SIGTERM or SIGINT stop it gracefully: steps
    running on instrument firmware keep running and are re-attached at the next start.
    """
    from scheduler.bench import Bench
    from scheduler.cli.options import stored_url
    from scheduler.daemon import Daemon
    from storage import AsyncStore, open_store

    configure_logging(log_level)
    loaded = Bench.load(bench)
    url = stored_url(db or (loaded.database.url if loaded.database else None))
    db = AsyncStore.of(open_store(url))
    telemetry = None
    if loaded.telemetry is not None:
        from scheduler.telemetry import Telemetry

        telemetry = Telemetry(loaded.telemetry, loaded.name)

    async def main() -> None:
        runner = Daemon(loaded, db, daemon_id=daemon_id, telemetry=telemetry, poll_s=poll_s)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runner.request_stop)
        await runner.run()

    asyncio.run(main())
