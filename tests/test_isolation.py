"""The suite's isolation guard (tests/isolation.py): what one test leaves behind
is put back before the next, and a changed signal handler or mask fails the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

LEAKY = '''
import os, signal

def test_a_leaves_a_handler_the_mask_and_the_environment_changed():
    signal.signal(signal.SIGUSR1, lambda *a: None)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    os.environ["ISOLATION_LEFT"] = "1"
    os.chdir("/")

def test_b_finds_them_as_they_were(tmp_path):
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
    assert signal.SIGUSR2 not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert "ISOLATION_LEFT" not in os.environ
    assert os.getcwd() == START

def test_c_the_interrupt_handlers_installed_and_left_fail_too():
    from harness import interrupt
    interrupt.install()

def test_d_sigint_raises_again():
    import pytest
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        signal.sigtimedwait([], 0)  # a point where the handler runs

START = os.getcwd()
'''


def test_a_test_that_leaves_signals_changed_fails_and_the_next_sees_them_restored(
        tmp_path: Path) -> None:
    (tmp_path / "test_leaky.py").write_text(LEAKY)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    # SIGINT at its default, so the child's Python installs default_int_handler
    # whatever this suite inherited (a CI runner's background job has it ignored).
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "isolation", "-p", "no:cacheprovider",
         "-p", "no:randomly", "-rA", "test_leaky.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    out = proc.stdout
    # Every call passes; the guard's error is the teardown of the two that leaked.
    assert "4 passed, 2 errors" in out, out
    assert "PASSED test_leaky.py::test_b_finds_them_as_they_were" in out, out
    assert "PASSED test_leaky.py::test_d_sigint_raises_again" in out, out
    teardown_a, teardown_c = out.split("ERROR at teardown of test_c_")
    assert "ERROR at teardown of test_a_" in teardown_a, out
    assert "SIGUSR1 handler <Handlers.SIG_DFL: 0> -> <function" in teardown_a, out
    assert "signal mask: blocked ['SIGUSR2'], unblocked []" in teardown_a, out
    assert "SIGINT handler <built-in function default_int_handler> -> <function _handle" \
        in teardown_c, out
    assert "SIGTERM handler <Handlers.SIG_DFL: 0> -> <function _handle" in teardown_c, out
