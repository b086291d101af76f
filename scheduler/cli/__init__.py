"""The `cellbench` command. Errors are one sentence on stderr, never a traceback (but --debug)."""

from __future__ import annotations

import os
import sys

import click
import typer

from drivers.errors import InstrumentError
from protocols.errors import ProtocolError
from scheduler.errors import SchedulerError
from simulators.errors import SimulatorError
from storage.errors import StorageError

KNOWN_ERRORS: tuple[type[BaseException], ...] = (
    InstrumentError,
    ProtocolError,
    SchedulerError,
    SimulatorError,
    StorageError,
)

app = typer.Typer(
    name="cellbench",
    help="Battery test orchestration: protocols, instruments, queue, storage and simulators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    """Attach every command module; each adds its own commands to `app`."""
    from scheduler.cli import commands  # noqa: F401


def _one_sentence(exc: BaseException) -> str:
    if isinstance(exc, ProtocolError) and len(exc.problems) > 1:
        return "\n".join(f"error: {p}" for p in exc.problems)
    text = str(exc).strip() or type(exc).__name__
    return f"error: {text}"


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the typer app and turn every failure into one clear line."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("CELLBENCH_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    _register()
    try:
        app(args=args, prog_name="cellbench", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.stderr.write("error: interrupted.\n")
        sys.exit(130)
    except click.ClickException as exc:
        sys.stderr.write(f"error: {exc.format_message()}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted.\n")
        sys.exit(130)
    except KNOWN_ERRORS as exc:
        if debug:
            raise
        sys.stderr.write(_one_sentence(exc) + "\n")
        sys.exit(1)
    except Exception as exc:
        if debug:
            raise
        sys.stderr.write(
            f"error: internal error ({type(exc).__name__}: {exc}); "
            "rerun with --debug for details.\n"
        )
        sys.exit(2)


@app.callback()
def _root() -> None:
    """Battery test orchestration: protocols, instruments, queue, storage and simulators."""
