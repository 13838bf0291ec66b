"""What gunicorn serves: the app named by ``$COHERENCE_APP``, with the harness routes.

Gunicorn is started with ``coherence_worker.wrap:app`` rather than the user's own
``--app``, so that any Flask app is checked unchanged: :func:`.routes.serve`
loads it (``mod:app`` or ``mod:create_app()``), picks the Flask-Caching
instance named by ``$COHERENCE_CACHE`` (or its only one) and adds the routes.
"""

from __future__ import annotations

import os

from .routes import serve

app = serve(os.environ["COHERENCE_APP"], os.environ.get("COHERENCE_CACHE") or None)
