"""Sends itself SIGKILL at import."""

import os
import signal

os.kill(os.getpid(), signal.SIGKILL)
