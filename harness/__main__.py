"""``python -m harness`` is the ``coherence`` command, and :func:`main` its console entry.

The CLI installs its SIGINT and SIGTERM handlers only once its modules are
imported and the command starts; a Ctrl-C or a SIGTERM before that (a few
tenths of a second of imports, when nothing has been started yet) is one line
and exit 130 or 143 here, not a traceback or a silent death by the signal.
"""

import signal
import sys
from types import FrameType


class _Terminated(BaseException):
    """SIGTERM before the command's own handler is in place."""


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def main() -> None:
    # Only a default SIGTERM: one the caller ignored (nohup) stays ignored.
    early = signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    if early:
        signal.signal(signal.SIGTERM, _terminated)
    stage = " while starting"
    try:
        from .cli import main as cli

        stage = ""
        cli()  # `run` and `report` put their own handler in place of this one
    except KeyboardInterrupt:
        if stage:
            sys.stderr.write("coherence: interrupted by SIGINT while starting; "
                             "nothing was started\n")
            sys.exit(130)
        raise
    except _Terminated:
        sys.stderr.write(f"coherence: interrupted by SIGTERM{stage}; nothing was started\n")
        sys.exit(143)
    finally:
        if early and signal.getsignal(signal.SIGTERM) is _terminated:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


if __name__ == "__main__":
    main()
