"""A port handed out is claimed: no other harness process gets it until the claim lapses."""

from __future__ import annotations

import subprocess
import sys

from harness.topology import ports


def test_a_port_handed_out_is_not_handed_out_again() -> None:
    port = ports.free_port()
    assert not ports._claim(port), "this process claimed it already"
    # Another process cannot claim it either, although nothing listens on it.
    code = ("import sys; from harness.topology import ports; "
            f"sys.exit(0 if ports._claim({port}) else 3)")
    assert subprocess.run([sys.executable, "-c", code], timeout=30).returncode == 3
    free = ports.free_port()
    assert free != port


def test_a_claim_lapses_with_its_process() -> None:
    code = "from harness.topology import ports; print(ports.free_port())"
    port = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=30, check=True).stdout)
    assert ports._claim(port), "the claiming process has exited"
