"""Imports every command module so that each registers its commands on the app."""

from scheduler.cli import demo_cmd  # noqa: F401
