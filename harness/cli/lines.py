"""The CLI's one-line messages: every refusal is ``coherence: error: ...`` on one line, exit 2."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click


def one_line(message: str) -> str:
    """``message`` on one line: a value or an exception may carry newlines."""
    return "; ".join(part.strip() for part in message.splitlines() if part.strip())


def fail(message: str) -> None:
    click.echo(f"coherence: error: {one_line(message)}", err=True)
    sys.exit(2)


@contextmanager
def reader_may_leave() -> Iterator[None]:
    """A reader of stdout that stops early (``coherence list | head -1``) is no error.

    The rest of the output is dropped and the command exits with the status
    it was going to exit with (0 when it had none), whether the pipe closed
    during a write or only at the last flush.  click's own handler would exit
    1 for the first and the interpreter 120 for the second; the Python docs
    ("Note on SIGPIPE", in the signal module) give the pattern: flush inside
    the ``try``, then point stdout at /dev/null so the flush at exit is quiet.
    """
    code: int | str | None = 0
    try:
        try:
            yield
        except SystemExit as exc:
            code = exc.code
            raise
        except click.exceptions.Exit as exc:
            code = exc.exit_code
            raise
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        sys.exit(code)
