"""The shop's data: in memory here, a database in the real thing."""

from __future__ import annotations

from typing import Any

PRODUCTS: dict[int, dict[str, Any]] = {
    1: {"id": 1, "name": "kettle", "price": 2500, "category": "kitchen"},
    2: {"id": 2, "name": "teapot", "price": 1800, "category": "kitchen"},
    3: {"id": 3, "name": "lamp", "price": 4200, "category": "living"},
}
REVIEWS: dict[int, list[str]] = {1: ["boils fast"], 2: ["pours well"], 3: []}
#: No orders yet: an order page needs a row that a fresh database does not have.
ORDERS: dict[int, dict[str, Any]] = {}
STOCK: dict[int, int] = {1: 12, 2: 0, 3: 5}
