"""The CLI's one-line messages: every refusal is ``coherence: error: ...`` on one line, exit 2."""

from __future__ import annotations

import sys

import click


def one_line(message: str) -> str:
    """``message`` on one line: a value or an exception may carry newlines."""
    return "; ".join(part.strip() for part in message.splitlines() if part.strip())


def fail(message: str) -> None:
    click.echo(f"coherence: error: {one_line(message)}", err=True)
    sys.exit(2)


