"""Fresh cache keys, so scenarios can share one server without interfering."""

from __future__ import annotations

import itertools
import secrets


class Keyspace:
    """Hands out keys no earlier scenario, run or process has used."""

    def __init__(self, scenario: str) -> None:
        self._prefix = f"coh:{scenario}:{secrets.token_hex(4)}"
        self._counter = itertools.count()

    def fresh(self, label: str = "k") -> str:
        return f"{self._prefix}:{label}:{next(self._counter)}"

    def value(self, label: str = "v") -> str:
        """A value that cannot be mistaken for any other write's value."""
        return f"{label}-{secrets.token_hex(6)}"
