"""Logging in, the set-up page, and the pages that need a user."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, redirect, request, session, url_for

from .extensions import cache

bp = Blueprint("account", __name__)

#: Endpoints the login gate lets through without a user.
PUBLIC = frozenset({"account.login", "static"})


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "POST":
        session["user"] = request.form.get("user", "")
        return redirect(url_for("catalog.index"))
    return jsonify(form="user")


@bp.get("/setup")
def setup() -> Any:
    return jsonify(step="create the administrator account")


@bp.get("/account/orders")
@cache.cached(timeout=60)
def orders() -> Any:
    # Needs a logged-in user: the login gate sends everyone else away first.
    return jsonify(user=session["user"], orders=[])
