"""What the sample apps use of a newer Flask, for the oldest Flask the worker side supports.

``Config.from_prefixed_env`` is how the sample apps take the config the
harness hands each gunicorn instance as ``FLASK_*`` variables, and it is
new in Flask 2.1 (flask/config.py:126-185 in 3.1, ``.. versionadded:: 2.1``).
On Flask 2.0 the same reading is done here, as 2.1 does it: sorted keys,
each value JSON-decoded when it decodes, ``__`` for a nested key.
"""

from __future__ import annotations

import json
import os
from typing import Any


def from_prefixed_env(config: Any, prefix: str = "FLASK") -> bool:
    """``config.from_prefixed_env(prefix)``, on any Flask from 2.0."""
    native = getattr(config, "from_prefixed_env", None)
    if native is not None:
        return bool(native(prefix))
    start = f"{prefix}_"
    for name in sorted(os.environ):
        if not name.startswith(start):
            continue
        raw = os.environ[name]
        key = name[len(start):]
        value: Any
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        current = config
        *parts, tail = key.split("__")
        for part in parts:
            if part not in current:
                current[part] = {}
            current = current[part]
        current[tail] = value
    return True
