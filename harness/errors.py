"""The harness's exceptions: one root, one subclass per kind of failure.

Every message names the offending value and says how to fix it, because the
CLI prints it as the whole of its output before exiting with status 2::

    HarnessError
    ├── UsageError        bad option, unknown backend or scenario
    ├── DefinitionError   a malformed registry entry (server kind, backend spec)
    ├── MissingBinary     redis-server / memcached not installed
    ├── PortInUse         the requested port is taken
    ├── ServerUnreachable a configured cache server does not answer
    └── BootError         gunicorn or one of its workers failed to start
        ├── ReadinessTimeout  the workers did not answer in time: the machine, not the input
        └── InstanceBootError an extra instance a scenario started did not boot

A ``ReadinessTimeout`` and an ``InstanceBootError`` do not stop the run: the
rows that needed the instance are ``error``, with the reason (the window and
the machine's load; the quoted log line), and the run goes on (exit 1).
Every other error ends it (exit 2).
"""

from __future__ import annotations

from pathlib import Path


class HarnessError(Exception):
    """Root of every error the harness raises on purpose."""

    #: Whether the error ends the whole run: bad input or a broken
    #: environment, which every later scenario would meet again.
    stops_run = True

    def __init__(self, message: str, *, log: Path | None = None,
                 log_note: str | None = None) -> None:
        #: What went wrong and the fix, without the log.
        self.reason = message
        #: A process log worth reading next to the message, if any.
        self.log = log
        #: How the message points at the log (``see``: "...; see LOG"), or
        #: None when it does not.
        self.log_note = log_note
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if self.log is None or self.log_note is None:
            return self.reason
        return f"{self.reason}; {self.log_note} {self.log}"

    def __str__(self) -> str:
        return self.message

    def with_log(self, log: Path, *, note: str) -> HarnessError:
        """The same error pointing at another log (whatever a subclass carries kept)."""
        other = type(self).__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.log, other.log_note = log, note
        Exception.__init__(other, other.message)
        return other


#: The longest an echoed value's repr grows in a message before it is cut.
SHORT = 80


def shorten(value: object, limit: int = SHORT, *, quote: bool = True) -> str:
    """``value!r`` (with ``quote=False``: ``str(value)``) for a message, cut to about ``limit``.

    A 100 kB ``--config`` value echoed whole would bury the line that names
    the problem; the start and the length are enough to recognise it.
    """
    text = repr(value) if quote else str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


class UsageError(HarnessError):
    """An option, backend name or scenario id is not valid."""


class DefinitionError(HarnessError):
    """A registry entry (a server kind, a backend spec, the expectations file) is malformed.

    Raised as the registry is built, at import, so a broken entry fails
    before any run rather than halfway through one.
    """

    @classmethod
    def of(cls, entry: str, problem: str, fix: str) -> DefinitionError:
        """``entry: problem; fix``: the entry named as the registry knows it."""
        return cls(f"{entry}: {problem}; {fix}")


class MissingBinary(HarnessError):
    """A server binary the run needs is not installed."""


class PortInUse(HarnessError):
    """A port the user asked for is already bound by another process."""


class ServerUnreachable(HarnessError):
    """A cache server named in the configuration does not accept connections."""


class BootError(HarnessError):
    """Gunicorn exited, or its workers did not all answer, during start-up."""

    def evidence(self) -> dict[str, object]:
        """What an ``error`` row of a scenario that needed the instance says."""
        return {BOOT_ERROR: self.message, "log": str(self.log) if self.log else None}


#: The evidence key of a row that could not run because its instance timed
#: out booting; the CLI shows it beside the row's ``error``.
BOOT_ERROR = "boot_error"


class InstanceBootError(BootError):
    """An extra instance a scenario starts (a second deployment, ``--preload``) did not boot.

    The run's own instance of the app booted, so only the scenarios that
    needed this one cannot observe: they are ``error`` rows, and the run goes on.
    """

    stops_run = False

    def __init__(self, message: str, *, log: Path | None = None,
                 log_note: str | None = None, instance: str,
                 details: dict[str, object] | None = None) -> None:
        super().__init__(message, log=log, log_note=log_note)
        self.instance = instance
        self.details = details or {}

    def evidence(self) -> dict[str, object]:
        return {**super().evidence(), "instance": self.instance, **self.details}


class ReadinessTimeout(BootError):
    """Gunicorn's workers did not all answer within the readiness window.

    The app imported (the app check saw it before anything booted), so this
    is the machine's load, not the input: the scenarios that needed the
    instance are ``error`` rows, and the run goes on.
    """

    stops_run = False

    def __init__(self, message: str, *, log: Path | None = None,
                 log_note: str | None = None, window_s: float, load: float,
                 booting: int) -> None:
        super().__init__(message, log=log, log_note=log_note)
        self.window_s = window_s
        self.load = load
        self.booting = booting

    def evidence(self) -> dict[str, object]:
        return {BOOT_ERROR: self.message, "window_s": self.window_s,
                "load_average": self.load, "gunicorns_booting": self.booting,
                "log": str(self.log) if self.log else None}
