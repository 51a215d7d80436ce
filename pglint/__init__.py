"""pglint: a PostgreSQL schema linter and migration advisor."""

__version__ = "0.1.0"
