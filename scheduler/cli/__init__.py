"""The `cellbench` command. Errors are one sentence on stderr, never a traceback (but --debug)."""

from __future__ import annotations

import importlib
import os
import sys

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


def _click_exceptions(name: str) -> tuple[type[BaseException], ...]:
    """The click exception class `name`, from the click typer uses (its own copy or click)."""
    found: list[type[BaseException]] = []
    for module_name in ("typer._click.exceptions", "click.exceptions"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        cls = getattr(module, name, None)
        if isinstance(cls, type) and cls not in found:
            found.append(cls)
    return tuple(found)


CLICK_EXIT = _click_exceptions("Exit")
CLICK_ABORT = _click_exceptions("Abort")
CLICK_USAGE = _click_exceptions("ClickException")


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
    except CLICK_EXIT as exc:
        sys.exit(getattr(exc, "exit_code", 0))
    except CLICK_ABORT:
        sys.stderr.write("error: interrupted.\n")
        sys.exit(130)
    except CLICK_USAGE as exc:
        message = exc.format_message()  # type: ignore[attr-defined]
        if message.strip():  # an empty message follows help already printed
            sys.stderr.write(f"error: {message}\n")
        sys.exit(getattr(exc, "exit_code", 2))
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
