"""Scenario ``rolling-deploy``: old and new Flask-Caching side by side on one backend.

During a rolling deploy, workers of the old release and of the new one
serve at once.  Two instances of the sample app, each from its own
virtualenv (built once, kept under the user's cache directory), share the
run's backend; each writes a plain ``set``, a cached view and a memoized
result, and the other reads them.  Opt-in (``--scenario rolling-deploy``):
the first run builds a venv, which needs PyPI.
"""

from contextlib import ExitStack
from dataclasses import replace

import pytest

from harness.checkers import rolling as checker
from harness.topology import venvs
from harness.workloads import rolling as workload
from harness.workloads.features import FEATURES_APP

pytestmark = pytest.mark.app(FEATURES_APP)


@pytest.mark.scenario("rolling-deploy")
def test_rolling_deploy(topology, coherence_options, coherence_pool, judge):
    current = venvs.installed()
    # A row that names its client (MemcachedCache[pylibmc]) gets it on both sides.
    extra = topology.key.backend.spec.requirements
    old = venvs.ensure(coherence_options.old_version or venvs.previous_minor(current),
                       extra=extra)
    new = (venvs.ensure(coherence_options.new_version, extra=extra)
           if coherence_options.new_version else None)
    versions = {"old": old.flask_caching, "new": new.flask_caching if new else current}
    scratch = coherence_pool.scratch(f"rolling-{topology.key.label}")
    shared = {"CACHE_DIR": str(scratch / "cache")}
    key = replace(topology.key, workers=1)
    with ExitStack() as stack:
        sides = {
            # The old release from a copy of the project, as a host not yet deployed.
            "old": coherence_pool.start(key, name="rolling-old", stack=stack, config=shared,
                                        python=str(old.python), elsewhere=True),
            "new": coherence_pool.start(key, name="rolling-new", stack=stack, config=shared,
                                        **({"python": str(new.python)} if new else {})),
        }
        history, facts = workload.run({side: t.workers[0] for side, t in sides.items()})
    judge.verdict(checker.check(facts, versions), history=history)
