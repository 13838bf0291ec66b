"""The worker side: what runs inside the app's own interpreter.

Everything here runs in gunicorn's master and workers, and in the app
check's throwaway process, with ``--python``'s interpreter (the harness's
own by default).  So it imports only the standard library, Flask,
Werkzeug, Flask-Caching and gunicorn, and only relatively within this
package, and it runs on Python 3.9 and on the oldest supported Flask
stack (``FLOOR`` in :mod:`.protocol`; README, "Your app's own environment").

The controller never imports these modules under this name for anything
but :mod:`.protocol`.  Workers import them as the top-level package
``coherence_worker`` (:data:`harness.topology.workerpath.PACKAGE`), from a
directory that holds only a link to this one, so neither a ``harness`` of
the user's own nor a missing harness install in the app's environment can
get in the way.
"""
