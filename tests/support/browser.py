"""pytest plugin: a real headless Chromium (Debian's package) driven by Playwright.

Fixtures:
  chromium_executable  (session)  path of the Chromium binary: $TRIAGE_TEST_CHROMIUM, else
                                  /usr/bin/chromium, else `chromium` on PATH; skips when absent.
  browser              (session)  a Playwright Browser launched headless from that binary.
  page                 (function) a new page in a fresh context (1280x900, locale zh-CN).

Playwright's own browser builds are never downloaded or used: the launch names the executable.
`tests/support/system_deps.sh` (run by `make test`) installs chromium and fonts-noto-cjk.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

ENV_CHROMIUM = "TRIAGE_TEST_CHROMIUM"
HOW_TO_FIX = (
    "install it with `sh tests/support/system_deps.sh` as root (Debian: apt-get install "
    f"chromium fonts-noto-cjk), or set {ENV_CHROMIUM} to a Chromium/Chrome binary"
)

# What the terminal summary reports: set by the browser fixture when a test asked for it.
_leg: dict[str, str] = {}


def find_chromium() -> str | None:
    configured = os.environ.get(ENV_CHROMIUM)
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = find_chromium()
    if path is None:
        configured = os.environ.get(ENV_CHROMIUM)
        reason = (f"{ENV_CHROMIUM}={configured} is not an executable file" if configured
                  else "no Chromium at /usr/bin/chromium or on PATH")
        _leg["skipped"] = reason
        pytest.skip(f"browser leg skipped: {reason}; to fix: {HOW_TO_FIX}")
    return path


@pytest.fixture(scope="session")
def browser(chromium_executable: str) -> Iterator[Any]:
    # Never fetch Playwright's own browser builds, whatever else runs in this session.
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    manager = sync_playwright().start()
    try:
        browser = manager.chromium.launch(
            executable_path=chromium_executable,
            headless=True,
            # --no-sandbox: we run as root in CI; /dev/shm may be small in containers.
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
    except PlaywrightError as exc:
        # Present but broken is an error, not a skip: it would hide a real regression in CI.
        manager.stop()
        _leg["failed"] = f"{chromium_executable} did not launch"
        pytest.fail(f"{chromium_executable} is installed but did not launch: {exc}",
                    pytrace=False)
    _leg["ran"] = f"Chromium {browser.version} ({chromium_executable})"
    try:
        yield browser
    finally:
        browser.close()
        manager.stop()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    try:
        yield context.new_page()
    finally:
        context.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if "ran" in _leg:
        terminalreporter.write_line(f"Browser leg: ran against {_leg['ran']}", green=True)
    elif "failed" in _leg:
        terminalreporter.write_line(f"Browser leg FAILED: {_leg['failed']}", red=True, bold=True)
    elif "skipped" in _leg:
        terminalreporter.write_line(f"Browser leg SKIPPED: {_leg['skipped']}", yellow=True,
                                    bold=True)
