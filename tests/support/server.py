"""Helpers for tests that run `triage serve` as a real process on loopback."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(proc: subprocess.Popen, url: str, log: Path | None = None,  # type: ignore[type-arg]
                 seconds: float = 90) -> None:
    """Return once ``url``/healthz answers 200; fail with the server's log when it exits or
    does not come up in time."""
    deadline = time.monotonic() + seconds

    def tail() -> str:
        if log is None or not log.is_file():
            return ""
        return ":\n" + log.read_text(encoding="utf-8", errors="replace")[-3000:]

    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise AssertionError(f"server exited ({proc.returncode}){tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"server did not come up in {seconds:g} s{tail()}")
        time.sleep(0.3)
