"""``python -m harness.topology.kinds --apt-packages [--missing]``: what installs the servers.

Prints the apt packages that install every server kind's binary, on one
line, for ``.ci/run`` and the CI workflow to install; ``--missing`` leaves
out those whose binary is already found.  Needs only the standard library,
so it runs on a clean clone before anything is installed.
"""

from __future__ import annotations

import argparse

from . import apt_packages

parser = argparse.ArgumentParser(prog="python -m harness.topology.kinds",
                                 description="What installs the harness's server kinds.")
parser.add_argument("--apt-packages", action="store_true", required=True,
                    help="print the apt packages that install every kind's binary")
parser.add_argument("--missing", action="store_true",
                    help="only those whose binary is not found")
args = parser.parse_args()
print(" ".join(apt_packages(missing=args.missing)))
