"""The shop's extensions, created unbound and initialised by the factory."""

from __future__ import annotations

from flask_caching import Cache
from flask_wtf import CSRFProtect

#: The shared cache (shop.cfg's CACHE_TYPE: FileSystemCache by import path).
cache = Cache()
#: A per-process cache (SimpleCache) for data fetched from outside.
local = Cache()
csrf = CSRFProtect()
