"""Headless Chromium for the playground tests: Debian's `chromium`, driven by Playwright's Python package.
Never a downloaded browser: a missing one is a failure that says how to install it, not a skip."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
HOW_TO_INSTALL = (
    "the playground tests need Debian's Chromium at /usr/bin/chromium and Playwright's Python package: "
    "run `apt-get update && apt-get install -y chromium chromium-driver` (as root) and "
    "`pip install -e '.[test]'` (never `playwright install`: the tests use the system browser)"
)
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: {HOW_TO_INSTALL}", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"playwright is not installed: {HOW_TO_INSTALL}", pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    # The page runs under its own Content-Security-Policy; predicates passed to Playwright must therefore be
    # arrow functions (`"() => ..."`): a bare expression is compiled with eval, which that policy forbids.
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda err: errors.append(str(err)))
    yield tab
    context.close()
    assert not errors, f"the page raised: {errors}"
