"""The DOM a headless Chromium builds from a page: what the report's script did to it."""

from __future__ import annotations

from pathlib import Path

from harness.report import chromium


def dump_dom(html: Path, *, binary: str | None = None, timeout: float = chromium.TIMEOUT,
             window: tuple[int, int] | None = None) -> chromium.Outcome:
    """Load ``html`` and return the DOM after its scripts ran, plus console lines.

    ``window`` (width, height) sets the viewport the page is laid out in.
    """
    binary = binary or chromium.find()
    if binary is None:
        raise FileNotFoundError("chromium not found on PATH")
    size = () if window is None else (f"--window-size={window[0]},{window[1]}",)
    return chromium.run(binary, "--enable-logging=stderr", "--v=0", *size, "--dump-dom",
                        html.resolve().as_uri(), timeout=timeout)
