"""Stock levels and reports: memoized methods, keyed on ``repr(self)``."""

from __future__ import annotations

from typing import Any

from . import data
from .extensions import cache


class Inventory:
    """One warehouse; its repr names it, so every process keys it alike."""

    def __init__(self, warehouse: str) -> None:
        self.warehouse = warehouse

    def __repr__(self) -> str:
        return f"Inventory({self.warehouse!r})"

    @cache.memoize(timeout=120)
    def stock(self, product_id: int) -> int:
        return data.STOCK.get(product_id, 0)


#: The one warehouse the shop has.
inventory = Inventory("main")


class Reports:
    """Built where needed (``Reports().bestsellers()``); stateless, so its repr is constant."""

    def __repr__(self) -> str:
        return "Reports()"

    @cache.memoize(timeout=600)
    def bestsellers(self) -> list[dict[str, Any]]:
        return sorted(data.PRODUCTS.values(), key=lambda p: -int(p["price"]))[:2]
