"""A real browser (Debian's chromium, driven by Playwright) watches a document complete via EventSource."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.conftest import FIXTURES
from tests.integration.conftest import Stack, embedding_env
from tests.support.embedding_server import FakeEmbeddingServer

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

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

            # States heard out of order (a list fetched before the cancel, answered after it, in the
            # same millisecond): the row keeps the one with the later event id.
            shown = page.evaluate(
                """async () => {
                    const { render } = await import("/static/documents.js");
                    const at = "2026-01-01T00:00:00.000Z";
                    const state = (status, last_event_id, updated_at) => ({
                        id: "ordering", filename: "ordering.pdf", status, stage: "embed", progress: 0.5,
                        pages_parsed: 1, pages_total: 1, chunks_stored: 0, chunks_total: 2, last_event_id, updated_at,
                    });
                    render(state("running", 5, at));
                    render(state("canceled", 6, at));
                    render(state("running", 5, at));
                    const after = document.querySelector('#doc-ordering [data-field="status"]').textContent;
                    render(state("queued", 6, "2026-01-01T00:00:01.000Z"));  // a retry: no event of its own
                    render(state("canceled", 6, at));
                    return [after, document.querySelector('#doc-ordering [data-field="status"]').textContent];
                }"""
            )
            assert shown == ["canceled", "queued"]
        finally:
            browser.close()


def _drop(page: Page, path: Path) -> None:
    """What a browser does when a file is dropped on the page: a drop event carrying the file."""
    page.evaluate(
        """([name, bytes]) => {
            const data = new DataTransfer();
            data.items.add(new File([new Uint8Array(bytes)], name, { type: "application/pdf" }));
            const drop = new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true });
            document.getElementById("upload-form").dispatchEvent(drop);
        }""",
        [path.name, list(path.read_bytes())],
    )


def _row(page: Page, filename: str) -> Locator:
    return page.locator("#documents tbody tr", has=page.locator(f'[data-field="filename"]:text-is("{filename}")'))


def test_the_dashboard_uploads_cancels_retries_and_searches(
    stack: Stack, chromium_path: str, embedding_server: FakeEmbeddingServer
) -> None:
    from playwright.sync_api import expect, sync_playwright

    env = embedding_env(embedding_server, PDFLINE_EMBEDDING_DIMENSIONS="64", PDFLINE_EMBEDDING_BATCH_SIZE="2")
    stack.configure(**env)
    api = stack.start_api_process()
    stack.start_worker()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(api.url)
            expect(page.locator("#connection")).to_have_text("live", timeout=20_000)
            expect(page.locator('[data-stat="workers"]')).to_have_text("1", timeout=20_000)

            # Several at once through the file picker; each bar reaches 100% and the row says completed.
            page.set_input_files("#file-input", [FIXTURES / "multipage.pdf", FIXTURES / "encrypted_empty_password.pdf"])
            for name, pages in (("multipage.pdf", "5/5"), ("encrypted_empty_password.pdf", "2/2")):
                row = _row(page, name)
                expect(row.locator('[data-field="status"]')).to_have_text("completed", timeout=60_000)
                expect(row.locator('[data-field="percent"]')).to_have_text("100%")
                expect(row.locator('[data-field="pages"]')).to_have_text(pages)
                assert row.locator('[data-field="progress"]').evaluate("el => el.value") == 1
            expect(page.locator('[data-stat="completed"]')).to_have_text("2", timeout=10_000)
            page.screenshot(path=str(ARTIFACTS / "dashboard-completed.png"), full_page=True)

            # Search: a passage of the multipage document finds it, with its pages and text.
            multipage_id = _row(page, "multipage.pdf").get_attribute("id").removeprefix("doc-")  # type: ignore[union-attr]
            passage = httpx.get(f"{api.url}/documents/{multipage_id}/chunks").json()["items"][1]["text"]
            page.fill("#search-query", " ".join(passage.split()[:30]))
            page.click('#search-form button[type="submit"]')
            first_hit = page.locator("#search-results .hit").first
            expect(first_hit.locator("h3")).to_contain_text("multipage.pdf", timeout=10_000)
            expect(first_hit.locator("h3")).to_contain_text("page")
            expect(first_hit.locator("p")).to_contain_text(" ".join(passage.split()[:8]))
            page.screenshot(path=str(ARTIFACTS / "dashboard-search.png"), full_page=True)

            # A failed document shows why, and its Retry button brings it to completed.
            embedding_server.fail_next(1, status=400)
            _drop(page, FIXTURES / "plain.pdf")
            row = _row(page, "plain.pdf")
            expect(row.locator('[data-field="status"]')).to_have_text("failed", timeout=60_000)
            expect(row.locator('[data-field="error"]')).to_contain_text("embedding_rejected")
            page.screenshot(path=str(ARTIFACTS / "dashboard-failed.png"), full_page=True)
            row.locator('[data-action="retry"]').click()
            expect(row.locator('[data-field="status"]')).to_have_text("completed", timeout=60_000)
            expect(row.locator('[data-field="error"]')).to_have_text("")
            expect(row.locator('[data-action="retry"]')).to_be_hidden()

            # A long one is canceled from its row while it runs.
            embedding_server.delay_s = 1.0
            page.set_input_files("#file-input", [FIXTURES / "thirty_pages.pdf"])
            row = _row(page, "thirty_pages.pdf")
            expect(row.locator('[data-field="status"]')).to_have_text("running", timeout=60_000)
            row.locator('[data-action="cancel"]').click()
            expect(row.locator('[data-field="status"]')).to_have_text("canceled", timeout=10_000)
            expect(row.locator('[data-action="cancel"]')).to_be_hidden()
            expect(row.locator('[data-action="retry"]')).to_be_visible()
            embedding_server.delay_s = 0
            expect(page.locator('[data-stat="canceled"]')).to_have_text("1", timeout=10_000)
            expect(page.locator('[data-stat="completed"]')).to_have_text("3")
            page.screenshot(path=str(ARTIFACTS / "dashboard-canceled.png"), full_page=True)
        finally:
            browser.close()


def test_the_dashboard_asks_for_the_api_key_and_fits_a_phone(stack: Stack, chromium_path: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    stack.configure(PDFLINE_API_KEYS="page-key-1")
    api = stack.start_api_process()
    stack.start_worker()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
            page.goto(api.url)
            expect(page.locator("#api-key-form")).to_be_visible(timeout=20_000)
            page.fill("#api-key", "wrong")
            page.click('#api-key-form button[type="submit"]')
            expect(page.locator("#api-key-form")).to_be_visible()
            expect(page.locator("#connection")).to_have_text("needs an API key")
            page.fill("#api-key", "page-key-1")
            page.click('#api-key-form button[type="submit"]')
            expect(page.locator("#connection")).to_have_text("live", timeout=20_000)
            expect(page.locator("#api-key-form")).to_be_hidden()

            page.set_input_files("#file-input", [FIXTURES / "multipage.pdf"])
            row = _row(page, "multipage.pdf")
            expect(row.locator('[data-field="status"]')).to_have_text("completed", timeout=60_000)
            expect(page.locator('[data-stat="workers"]')).to_have_text("1", timeout=10_000)
            # A card per document on a phone: nothing wider than the screen.
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            assert row.evaluate("el => getComputedStyle(el).display") == "block"
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
        finally:
            browser.close()
