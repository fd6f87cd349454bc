"""The few exceptions logrecon raises: only for what cannot go on.

Bad *data* never raises; it becomes quarantine or issue rows. These are for an unreadable
input, an unknown format, or a bad configuration or profile. The CLI turns each into exit 2
with its one-line message.
"""

from __future__ import annotations


class LogreconError(Exception):
    """Base of every error logrecon raises on purpose."""


class ConfigError(LogreconError):
    """A configuration or profile that cannot be used: unknown key, bad value, bad regex."""

    def __init__(self, where: str, key: str | None, problem: str):
        self.where, self.key, self.problem = where, key, problem
        location = f"{where}: {key}" if key else where
        super().__init__(f"{location}: {problem}")


class InputError(LogreconError):
    """An input that cannot be read as a whole: missing path, missing column, broken file."""

    def __init__(self, path: str, reason: str, line: int | None = None):
        self.path, self.reason, self.line = str(path), reason, line
        location = f"{path}:{line}" if line else str(path)
        super().__init__(f"{location}: {reason}")


class OutputError(LogreconError):
    """The run directory cannot be written."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")
