"""The catalogue: cached pages, memoized look-ups, and the admin's invalidations."""

from __future__ import annotations

import functools
from typing import Any

from flask import Blueprint, abort, jsonify
from flask.views import MethodView

from . import data
from .extensions import cache, local
from .inventory import Reports, inventory

bp = Blueprint("catalog", __name__)


@cache.memoize(timeout=300)
def price_of(product_id: int) -> int:
    return int(data.PRODUCTS[product_id]["price"])


@local.memoize(timeout=600)
def exchange_rate(currency: str) -> float:
    """Fetched from a rates service in the real thing; kept per process."""
    return {"EUR": 1.0, "USD": 1.08, "GBP": 0.86}[currency]


@functools.cache
@cache.memoize(timeout=300)
def category_tree() -> dict[str, list[int]]:
    """The functools.cache in front saves the round-trip to the cache on every page."""
    tree: dict[str, list[int]] = {}
    for product in data.PRODUCTS.values():
        tree.setdefault(product["category"], []).append(product["id"])
    return tree


@bp.get("/products")
@cache.cached(timeout=300)
def index() -> Any:
    return jsonify(products=sorted(data.PRODUCTS), categories=category_tree())


@bp.get("/products/<int:product_id>")
@cache.cached(timeout=300)
def product(product_id: int) -> Any:
    if product_id not in data.PRODUCTS:
        abort(404)
    price = price_of(product_id)
    return jsonify({**data.PRODUCTS[product_id], "price": price,
                    "usd": round(price * exchange_rate("USD")),
                    "in_stock": inventory.stock(product_id)})


@bp.get("/bestsellers")
def bestsellers() -> Any:
    return jsonify(Reports().bestsellers())


class ReviewsView(MethodView):
    @cache.cached(timeout=300)
    def get(self, product_id: int) -> Any:
        return jsonify(reviews=data.REVIEWS.get(product_id, []))


bp.add_url_rule("/products/<int:product_id>/reviews",
                view_func=ReviewsView.as_view("reviews"))


@bp.get("/orders/<int:order_id>")
@cache.cached(timeout=60)
def order(order_id: int) -> Any:
    if order_id not in data.ORDERS:
        abort(404)
    return jsonify(data.ORDERS[order_id])


@bp.post("/admin/products/<int:product_id>/price")
def set_price(product_id: int) -> Any:
    """The admin's invalidation: the memoized price and the product page's key."""
    data.PRODUCTS[product_id]["price"] += 100
    cache.delete_memoized(price_of, product_id)
    cache.delete(f"view//products/{product_id}")
    category_tree.cache_clear()
    cache.delete_memoized(category_tree)
    return jsonify(ok=True)
