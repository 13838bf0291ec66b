"""``python -m harness`` is the ``coherence`` command."""

from .cli import main

main()
