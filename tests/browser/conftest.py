"""Real headless Chromium (Debian's ``chromium``) driven by Playwright against a running server.

A failing test leaves a full-page screenshot in ``DOMALIGN_TEST_ARTIFACTS`` (default: ``test-artifacts/``).
With ``DOMALIGN_SCREENSHOTS=DIR`` the tests also save a screenshot of every step there (docs/img).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

ARTIFACTS = Path(os.environ.get("DOMALIGN_TEST_ARTIFACTS", "test-artifacts"))


def _chromium() -> str:
    path = os.environ.get("DOMALIGN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("browser tests need Chromium: apt-get install chromium (or set DOMALIGN_CHROMIUM)")
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
        launched = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture()
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    yield opened
    if request.node.stash.get(FAILED, True):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        target = ARTIFACTS / f"{request.node.name}.png"
        opened.screenshot(path=str(target), full_page=True)
        print(f"screenshot of the failed page: {target}")
    context.close()


class Shots:
    """Step screenshots for the docs, taken only when ``DOMALIGN_SCREENSHOTS`` names a folder."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.folder = Path(os.environ["DOMALIGN_SCREENSHOTS"]) if os.environ.get("DOMALIGN_SCREENSHOTS") else None

    def __call__(self, name: str) -> None:
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(self.folder / f"{name}.png"), full_page=True)


@pytest.fixture()
def shot(page: Page) -> Shots:
    return Shots(page)
