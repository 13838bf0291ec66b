"""The names the controller and the workers share: one place for each."""

#: The URL prefix every harness endpoint sits under.  An app with routes of
#: its own there is refused before boot (:func:`.routes.describe`).
ROUTE_PREFIX = "/__coherence__"

#: The cache operations a worker performs (``POST <prefix>/ops/<op>``), in
#: the order of ``harness.history.names.OPS``.
CACHE_OPS = ("get", "set", "delete", "add", "inc", "has", "clear")

#: The key of ``app.extensions`` that marks an app serving the harness endpoints already.
EXTENSION = "coherence"

#: What ``POST <prefix>/views`` does (the app-views scenario): find the app's
#: targets, call one, or invalidate one the app's way.
VIEW_ACTIONS = ("list", "call", "forget")
