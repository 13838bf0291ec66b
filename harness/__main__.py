"""``python -m harness`` is the ``coherence`` command, and :func:`main` its console entry.

The CLI installs its SIGINT handler only once its modules are imported;
a Ctrl-C before that (a few tenths of a second of imports, when nothing
has been started yet) is one line and exit 130 here, not a traceback.
"""

import sys


def main() -> None:
    try:
        from .cli import main as cli
    except KeyboardInterrupt:
        sys.stderr.write("coherence: interrupted by SIGINT while starting; nothing was started\n")
        sys.exit(130)
    cli()


if __name__ == "__main__":
    main()
