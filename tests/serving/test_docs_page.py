"""/docs in a real browser (Debian's Chromium, driven by Playwright), with no way out to the internet: the page
renders our contract from assets the server itself serves."""

from __future__ import annotations

import shutil

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OPERATIONS = ["/invocations", "/models", "/args", "/args/{arg}", "/performance", "/ping"]


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context()
        yield context.new_page()
        browser.close()


def test_docs_lists_the_operations_without_internet(page, hardened_server):
    outside = []

    def only_this_server(route):  # anything not from the server under test would need the internet
        if route.request.url.startswith(hardened_server.url):
            return route.continue_()
        outside.append(route.request.url)
        return route.abort()

    page.route("**/*", only_this_server)
    page.goto(f"{hardened_server.url}/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    listed = page.locator(".opblock-summary-path").all_inner_texts()
    for operation in OPERATIONS:
        assert any(text.replace("\u200b", "") == operation for text in listed), (operation, listed)
    assert "TagIfAI scoring API" in page.locator(".title").first.inner_text()
    assert outside == []
