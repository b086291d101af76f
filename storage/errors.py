"""Storage errors: one sentence naming the database and what failed."""


class StorageError(Exception):
    """Base class for database and export failures."""
