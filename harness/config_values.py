"""The ``--config KEY=VALUE`` pairs: their parse, and the keys Flask-Caching reads."""

from __future__ import annotations

import difflib
import json
import math
from typing import Any

from .errors import UsageError, shorten

#: Longest timeout-like ``--config`` value: a year.  Longer gains nothing in
#: a run that lasts minutes.
MAX_TIMEOUT_CONFIG = 365 * 24 * 3600


def config_of(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs to a dict; values are JSON when they parse as JSON."""
    config: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"--config {shorten(pair)} is not KEY=VALUE; write e.g. --config "
                "CACHE_DEFAULT_TIMEOUT=60"
            )
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        config[key.strip()] = value
    return config


#: The config keys Flask-Caching 2.5 reads, for a "did you mean" on a
#: misspelt one: flask_caching/__init__.py:231-245 (config.setdefault) and
#: :247-297 (CACHE_NO_NULL_WARNING, CACHE_TYPE, CACHE_ARGS, CACHE_OPTIONS ...);
#: backends/rediscache.py:84-97 (CACHE_REDIS_HOST/PORT/DB/PASSWORD/URL, prefix),
#: :210-213 (CACHE_REDIS_SENTINELS, _SENTINEL_MASTER, _SENTINEL_PASSWORD),
#: :312 (CACHE_REDIS_CLUSTER); backends/memcache.py:107, :156-157
#: (CACHE_MEMCACHED_SERVERS, _USERNAME, _PASSWORD); backends/filesystemcache.py:91-92
#: (CACHE_THRESHOLD, CACHE_FILE_HASH_METHOD).  tests/test_bad_input_values.py
#: holds this list against the installed source.
CACHE_KEYS = (
    "CACHE_ARGS", "CACHE_DEFAULT_TIMEOUT", "CACHE_DIR", "CACHE_ENABLE_SIGNALS",
    "CACHE_FILE_HASH_METHOD", "CACHE_HASH_METHOD", "CACHE_IGNORE_ERRORS", "CACHE_KEY_PREFIX",
    "CACHE_MEMCACHED_PASSWORD", "CACHE_MEMCACHED_SERVERS", "CACHE_MEMCACHED_USERNAME",
    "CACHE_NO_NULL_WARNING", "CACHE_OPTIONS", "CACHE_REDIS_CLUSTER", "CACHE_REDIS_DB",
    "CACHE_REDIS_HOST", "CACHE_REDIS_PASSWORD", "CACHE_REDIS_PORT", "CACHE_REDIS_SENTINELS",
    "CACHE_REDIS_SENTINEL_MASTER", "CACHE_REDIS_SENTINEL_PASSWORD", "CACHE_REDIS_URL",
    "CACHE_SERIALIZER", "CACHE_SOURCE_CHECK", "CACHE_THRESHOLD", "CACHE_TYPE",
)
#: How alike (difflib's ratio, after ``CACHE_``) an unknown key must be to a
#: known one to be taken for a typo of it: DEFAULT_TIMOUT is 0.97 from
#: DEFAULT_TIMEOUT, while REDIS_USER, a custom backend's own key, is 0.84
#: from REDIS_URL.  A typo also adds or drops at most two letters, so
#: REDIS_USER (0.87 from REDIS_CLUSTER, three letters short) is no typo.
TYPO_RATIO = 0.85
TYPO_LENGTH = 2


def misspelt(key: str) -> str | None:
    """The Flask-Caching key ``key`` is a typo of, or None.

    A ``CACHE_*`` key Flask-Caching does not read, and not close to one it
    does, stays accepted: a custom backend's factory reads keys of its own
    (``CACHE_MYSTORE_URL``) from the same config.
    """
    if key in CACHE_KEYS:
        return None
    if key.upper() in CACHE_KEYS:
        return key.upper()
    if not key.upper().startswith("CACHE_"):
        return None
    tail = key.upper().removeprefix("CACHE_")
    known = {k.removeprefix("CACHE_"): k for k in CACHE_KEYS}
    near = [k for k in known if abs(len(k) - len(tail)) <= TYPO_LENGTH]
    close = difflib.get_close_matches(tail, near, n=1, cutoff=TYPO_RATIO)
    return known[close[0]] if close else None


def check_config(config: dict[str, Any]) -> None:
    for key, value in config.items():
        typo = misspelt(key)
        if typo is not None:
            raise UsageError(f"--config {shorten(key)} is not a key Flask-Caching reads; "
                             f"did you mean {typo!r}? e.g. --config {typo}=...")
        if key == "CACHE_TYPE":
            backend = value if isinstance(value, str) else "NAME"
            raise UsageError(
                f"--config CACHE_TYPE={shorten(value)} would relabel every backend's row; "
                f"choose the backend with --backend {shorten(backend, quote=False)} instead")
        if key.endswith("TIMEOUT"):
            number = value if isinstance(value, int | float) and not isinstance(value, bool) \
                else None
            if number is None or not math.isfinite(number) or \
                    not 0 <= number <= MAX_TIMEOUT_CONFIG:
                raise UsageError(
                    f"--config {shorten(key, quote=False)}={shorten(value)} must be a number "
                    f"of seconds from 0 (never expires) to {MAX_TIMEOUT_CONFIG} (a year); "
                    f"e.g. --config {shorten(key, quote=False)}=300")
        if key == "CACHE_THRESHOLD" and (not isinstance(value, int) or isinstance(value, bool)
                                         or value < 0):
            raise UsageError(f"--config CACHE_THRESHOLD={shorten(value)} must be a whole "
                             "number of entries, 0 or more; e.g. --config CACHE_THRESHOLD=500")
