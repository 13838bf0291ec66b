"""Ends the process at import, as a misplaced os._exit(0) does."""

import os

os._exit(0)
