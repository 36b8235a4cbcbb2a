"""Errors the janitor raises on purpose (everything else is a bug or a service error)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A bad setting. ``field`` names it the way the user wrote it (a guard property, an
    environment variable or a CLI flag); ``str()`` reads ``<field>: <message>``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def renamed(self, field: str) -> ConfigError:
        """The same error under another field name (e.g. ``max_wait`` -> ``--max-wait``)."""
        return ConfigError(field, self.message)
