"""A real browser (Debian's chromium, driven by Playwright) watches a document complete via EventSource."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from tests.conftest import FIXTURES
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Flags for a machine with no network but loopback (see the README's testing notes).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("PDFLINE_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts"))


@pytest.fixture
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
        pytest.skip("Debian's chromium package is not installed (apt-get install chromium)")
    return CHROMIUM


def test_the_page_sees_a_document_complete_through_event_source(stack: Stack, chromium_path: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    api = stack.configure().start_api_process()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(api.url)
            expect(page.locator("#connection")).to_have_text("live", timeout=20_000)

            with (FIXTURES / "multipage.pdf").open("rb") as handle:
                document = httpx.post(f"{api.url}/documents", files={"file": ("multipage.pdf", handle)}).json()
            stack.start_worker()
            row = page.locator(f"#doc-{document['id']}")
            expect(row.locator('[data-field="status"]')).to_have_text("completed", timeout=60_000)
            expect(row.locator('[data-field="filename"]')).to_have_text("multipage.pdf", timeout=20_000)
            assert row.locator('[data-field="progress"]').evaluate("el => el.value") == 1
            expect(row.locator('[data-field="pages"]')).to_have_text("5/5")

            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "live-page-completed.png"), full_page=True)
        finally:
            browser.close()
