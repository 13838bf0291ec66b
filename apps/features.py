"""A sample app exercising Flask-Caching's decorators, for the feature scenarios.

The ``visibility`` scenario drives the raw cache through ``/ops``; users,
though, reach the cache mostly through ``@cache.cached`` and
``@cache.memoize``, whose keys are built from request paths, bodies,
function names and ``repr(self)``.  Those keys decide whether a result
computed in one gunicorn worker is found by another, so this app exposes
one route per decorator feature.

Every function body that actually runs returns a fresh generation id
(``<pid>-<n>-<random>``): the same id on a later call means a cache hit,
a new id means the body ran again.  Run it by hand with::

    FLASK_CACHE_TYPE=SimpleCache gunicorn apps.features:app -w 4
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from typing import Any
from uuid import uuid4

from coherence_worker.flaskcompat import from_prefixed_env
from coherence_worker.routes import install
from flask import Flask, Response, jsonify, render_template, request
from flask.views import View
from flask_caching import Cache, CachedResponse, make_template_fragment_key

from apps.race import install_race
from apps.user import install_user

app = Flask(__name__)
app.config.from_mapping(CACHE_TYPE="SimpleCache", CACHE_DEFAULT_TIMEOUT=300)
from_prefixed_env(app.config)
cache = Cache(app)
install(app, cache)
install_user(app, cache)

#: Cached results live this long: far longer than a scenario, so a miss is
#: never an expiry, except on the CachedResponse route, which overrides it.
TIMEOUT = 60
#: The per-response TTL the CachedResponse route asks for.
SHORT_TIMEOUT = 1

_counter = itertools.count()


def generation() -> str:
    """A value no other execution of any body, in any worker, returns."""
    return f"{os.getpid()}-{next(_counter)}-{uuid4().hex[:6]}"


def _body(**extra: Any) -> dict[str, Any]:
    return {"gen": generation(), "pid": os.getpid(), **extra}


# --- cached views ---------------------------------------------------------


@app.get("/feat/view/<name>")
@cache.cached(timeout=TIMEOUT)
def cached_view(name: str) -> Response:
    # Default key: "view/" + request.path, so a fresh <name> is a fresh key.
    return jsonify(_body(name=name))


@app.get("/feat/unless/<name>")
@cache.cached(timeout=TIMEOUT, unless=lambda: request.args.get("bypass") == "1")
def unless_view(name: str) -> Response:
    return jsonify(_body(name=name))


@app.get("/feat/short/<name>")
@cache.cached(timeout=TIMEOUT)
def short_view(name: str) -> Response:
    # The per-response TTL overrides the decorator's timeout for this entry.
    # ``ttl`` tells the harness how long to wait before checking expiry.
    return CachedResponse(jsonify(_body(name=name, ttl=SHORT_TIMEOUT)), timeout=SHORT_TIMEOUT)


class PluggableView(View):
    """A class-based view: ``cached`` wraps the method, keyed on the path."""

    @cache.cached(timeout=TIMEOUT)
    def dispatch_request(self, name: str) -> Response:
        return jsonify(_body(name=name))


app.add_url_rule("/feat/pluggable/<name>", view_func=PluggableView.as_view("pluggable"))


def _helper_key() -> str:
    return "helper/" + request.args.get("topic", "")


@cache.cached(timeout=TIMEOUT, key_prefix=_helper_key)
def helper() -> dict[str, Any]:
    """Not a view: its key comes from a callable ``key_prefix`` instead of the path."""
    return _body(topic=request.args.get("topic", ""))


@app.get("/feat/helper")
def helper_view() -> Response:
    return jsonify(helper())


def _body_key(*args: Any, **kwargs: Any) -> str:
    # POST bodies are not part of the default key; hash the canonical JSON so
    # equal bodies share a key whatever their key order.
    canonical = json.dumps(request.get_json(silent=True), sort_keys=True)
    return "search/" + hashlib.sha256(canonical.encode()).hexdigest()


@app.post("/feat/search")
@cache.cached(timeout=TIMEOUT, make_cache_key=_body_key)
def search() -> Response:
    return jsonify(_body(query=request.get_json(silent=True)))


@app.post("/feat/forget/view/<name>")
def forget_view(name: str) -> Response:
    """Invalidate ``cached_view`` for one path, the 2.5 way or by its raw key."""
    path = f"/feat/view/{name}"
    if request.args.get("how") == "delete":
        key = f"view/{path}"
        deleted = cache.delete(key)
    else:
        key = cached_view.make_cache_key(path=path)
        deleted = cache.delete_cached(cached_view, path=path)
    return jsonify(key=key, result=bool(deleted))


# --- memoize --------------------------------------------------------------


@cache.memoize(timeout=TIMEOUT)
def compute(x: str) -> dict[str, Any]:
    return _body(x=x)


@app.get("/memo/f/<x>")
def memo_f(x: str) -> Response:
    return jsonify(compute(x))


@app.post("/memo/f/forget")
def memo_f_forget_all() -> Response:
    # No arguments: writes a new version for ``compute``, orphaning every entry.
    cache.delete_memoized(compute)
    return jsonify(result=True)


@app.post("/memo/f/forget/<x>")
def memo_f_forget_one(x: str) -> Response:
    cache.delete_memoized(compute, x)
    return jsonify(result=True)


class Item:
    """A model whose repr is its identity, as Flask-Caching's docs advise."""

    def __init__(self, item_id: str) -> None:
        self.id = item_id

    def __repr__(self) -> str:
        return f"Item({self.id})"

    @cache.memoize(timeout=TIMEOUT)
    def describe(self) -> dict[str, Any]:
        return _body(item=self.id)


@app.get("/memo/item/<item_id>")
def memo_item(item_id: str) -> Response:
    # A new instance per request, as a user loading a model would have.
    return jsonify(Item(item_id).describe())


@app.post("/memo/item/<item_id>/forget")
def memo_item_forget(item_id: str) -> Response:
    # A bound method with no arguments resets the per-instance version key,
    # which is found again by any instance with the same repr.
    cache.delete_memoized(Item(item_id).describe)
    return jsonify(result=True)


class Plain:
    """A class with the default repr, which embeds the instance's address."""

    @cache.memoize(timeout=TIMEOUT)
    def value(self, x: str) -> dict[str, Any]:
        return _body(x=x, instance=repr(self))


#: Created at import: without --preload each worker imports the app after the
#: fork and builds its own singleton, so whether the addresses (and with them
#: the keys) coincide across workers is an accident of allocation.
PLAIN = Plain()


# --- key stability (the key-stability scenario) ----------------------------


class PriceList:
    """Default repr, which embeds the address: the deliberately unstable case."""

    @cache.memoize(timeout=TIMEOUT)
    def price(self, item: int) -> int:
        return item * 100


class NamedPriceList:
    """A repr that names the instance, as Flask-Caching's docs advise: the stable case."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"NamedPriceList({self.name!r})"

    @cache.memoize(timeout=TIMEOUT)
    def price(self, item: int) -> int:
        return item * 100


# A long-running worker's heap has a history of its own, so its objects'
# addresses differ from another worker's; freshly forked workers importing
# the same code would often get equal ones by chance.  A few objects kept
# alive per pid give each worker a history of its own now, so the sample
# shows the defect every time rather than sometimes.
_HISTORY = [PriceList() for _ in range(os.getpid() % 64 + 1)]
#: ``apps.features:PRICES.price`` is per-worker; ``NAMED_PRICES.price`` is stable.
PRICES = PriceList()
NAMED_PRICES = NamedPriceList("main")


@app.get("/memo/plain/singleton/<x>")
def memo_plain_singleton(x: str) -> Response:
    # ``caller`` is this worker's own singleton; ``instance`` is whichever
    # instance computed the cached result.
    return jsonify({**PLAIN.value(x), "caller": repr(PLAIN)})


@app.get("/memo/plain/fresh/<x>")
def memo_plain_fresh(x: str) -> Response:
    obj = Plain()
    return jsonify({**obj.value(x), "caller": repr(obj)})


class Registry:
    """A memoized classmethod: keyed on ``repr(cls)``, the same in every worker."""

    @classmethod
    @cache.memoize(timeout=TIMEOUT)
    def lookup(cls, x: str) -> dict[str, Any]:
        return _body(x=x, cls=cls.__name__)


@app.get("/memo/cls/<x>")
def memo_cls(x: str) -> Response:
    return jsonify(Registry.lookup(x))


@app.post("/memo/cls/forget/<x>")
def memo_cls_forget(x: str) -> Response:
    cache.delete_memoized(Registry.lookup, Registry, x)
    return jsonify(result=True)


# --- Jinja {% cache %} fragments ------------------------------------------
# Templates live in apps/templates/fragments/; each renders only its cached
# fragment, whose body is a fresh generation id.

app.jinja_env.globals["generation"] = generation


def _fragment(template: str, **context: Any) -> Response:
    return jsonify(gen=render_template(template, **context).strip())


def _default_fragment_key() -> str:
    """The key ``{% cache 60 %}`` uses: the template's path plus the tag's line."""
    assert app.jinja_env.loader is not None
    source, filename, _ = app.jinja_env.loader.get_source(app.jinja_env,
                                                         "fragments/default.html")
    line = next(n for n, text in enumerate(source.splitlines(), 1) if "{% cache" in text)
    return make_template_fragment_key(f"{filename}{line}")


@app.get("/frag/default")
def fragment_default() -> Response:
    return _fragment("fragments/default.html")


@app.post("/frag/default/reset")
def fragment_default_reset() -> Response:
    # One key for the whole template, so trials start by deleting it.
    key = _default_fragment_key()
    cache.delete(key)
    return jsonify(result=True, key=key)


@app.get("/frag/card/<token>")
def fragment_card(token: str) -> Response:
    return _fragment("fragments/card.html", token=token, lang=request.args.get("lang", "en"))


@app.post("/frag/card/<token>/forget")
def fragment_card_forget(token: str) -> Response:
    """Invalidate from Python, the way a view that changed the data would."""
    key = make_template_fragment_key("card", vary_on=[token, request.args.get("lang", "en")])
    return jsonify(result=bool(cache.delete(key)), key=key)


@app.post("/frag/card/<token>/del")
def fragment_card_del(token: str) -> Response:
    """Invalidate from a template, with ``{% cache 'del', ... %}``."""
    render_template("fragments/card_del.html", token=token, lang=request.args.get("lang", "en"))
    return jsonify(result=True)


@app.get("/frag/forever/<token>")
def fragment_forever(token: str) -> Response:
    return _fragment("fragments/forever.html", token=token)


install_race(app, cache, TIMEOUT)
