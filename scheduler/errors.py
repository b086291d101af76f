"""Scheduler errors: bench files, jobs, runs."""


class SchedulerError(Exception):
    """Base class for problems the scheduler reports to the user."""
