"""The harness's exceptions: one root, one subclass per kind of failure.

Every message names the offending value and says how to fix it, because the
CLI prints it as the whole of its output before exiting with status 2::

    HarnessError
    ├── UsageError        bad option, unknown backend or scenario
    ├── MissingBinary     redis-server / memcached not installed
    ├── PortInUse         the requested port is taken
    ├── ServerUnreachable a configured cache server does not answer
    └── BootError         gunicorn or one of its workers failed to start
"""

from __future__ import annotations

from pathlib import Path


class HarnessError(Exception):
    """Root of every error the harness raises on purpose."""

    def __init__(self, message: str, *, log: Path | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: A process log worth reading next to the message, if any.
        self.log = log

    def __str__(self) -> str:
        return self.message


class UsageError(HarnessError):
    """An option, backend name or scenario id is not valid."""


class MissingBinary(HarnessError):
    """A server binary the run needs is not installed."""


class PortInUse(HarnessError):
    """A port the user asked for is already bound by another process."""


class ServerUnreachable(HarnessError):
    """A cache server named in the configuration does not accept connections."""


class BootError(HarnessError):
    """Gunicorn exited, or its workers did not all answer, during start-up."""
