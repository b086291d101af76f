"""Imports every command module so that each registers its commands on the app."""

from scheduler.cli import (
    demo_cmd,  # noqa: F401
    protocol_cmd,  # noqa: F401
    runs_cmd,  # noqa: F401
    sim_cmd,  # noqa: F401
    sim_run_cmd,  # noqa: F401
)
