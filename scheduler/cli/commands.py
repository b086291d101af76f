"""Imports every command module so that each registers its commands on the app."""

from scheduler.cli import (
    ack_cmd,  # noqa: F401
    analyze_cmd,  # noqa: F401
    bench_cmd,  # noqa: F401
    cell_cmd,  # noqa: F401
    daemon_cmd,  # noqa: F401
    demo_cmd,  # noqa: F401
    protocol_cmd,  # noqa: F401
    queue_cmd,  # noqa: F401
    runs_cmd,  # noqa: F401
    sim_bench_cmd,  # noqa: F401
    sim_cmd,  # noqa: F401
    sim_run_cmd,  # noqa: F401
    status_cmd,  # noqa: F401
)
