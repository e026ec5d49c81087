"""A leader's mobile pages in a real Chromium at phone size (Playwright, sync API, system Chromium)."""

import os
import shutil

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 360, "height": 740}
SCREENSHOT = "/tmp/mobile.png"

pytestmark = [
    pytest.mark.browser,
    # Transactional, so the live server's threads see the data. Not serialized_rollback: what the test
    # needs from data migrations the factories get_or_create (see tests/issues/test_public.py).
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def browser_page(async_unsafe_ok):
    if not shutil.which(CHROMIUM):
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium); CI requires it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", is_mobile=True, has_touch=True)
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()


@pytest.fixture
def async_unsafe_ok():
    # Playwright's sync API runs an event loop in this thread; Django's ORM would refuse to run then.
    old = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if old is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = old


def scroll_width(page):
    return page.evaluate("document.documentElement.scrollWidth")


def test_leader_logs_in_and_reads_their_microgrid_on_a_phone(live_server, world, async_unsafe_ok, browser_page):
    page = browser_page
    origin = live_server.url
    foreign = []
    page.on("request", lambda r: None if r.url.startswith((origin, "data:")) else foreign.append(r.url))
    failed = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    # Log in.
    page.goto(f"{origin}/m/login/")
    assert page.evaluate("document.documentElement.lang") == "zh-hans"
    assert scroll_width(page) <= VIEWPORT["width"]
    page.fill("#id_username", "leader_a")
    page.fill("#id_password", "pw-123456")
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{origin}/m/")

    # "My grid": the micro-grid with its path.
    card = page.locator(".card", has=page.locator("a", has_text="微网格A1"))
    card.wait_for()
    assert "测试街道 › 社区A › 小区A › 1栋 › 1单元" in card.inner_text()
    assert "微网格B1" not in page.content()
    assert scroll_width(page) <= VIEWPORT["width"]

    # The micro-grid: households with masked phones and care tags.
    card.locator("a").click()
    page.wait_for_url(f"{origin}/m/grid/CA-G1/")
    households = page.locator("#households li.household")
    households.first.wait_for()
    assert households.count() == 2
    text = page.locator("#households").inner_text()
    assert text.count("139****5678") == 2
    assert "13912345678" not in page.content()
    assert "独居老人" in text
    assert scroll_width(page) <= VIEWPORT["width"]
    page.screenshot(path=SCREENSHOT, full_page=True)

    # Typing in the search box narrows the list through htmx, without a page load.
    first, second = world.a.households[:2]
    page.evaluate("window.__same_document = true")
    page.fill("input[name=q]", first.head)
    page.wait_for_function(
        "n => document.querySelectorAll('#households li.household').length === n", arg=1
    )
    assert first.head in page.locator("#households").inner_text()
    assert second.head not in page.locator("#households").inner_text()
    assert page.evaluate("window.__same_document") is True  # the page was not reloaded
    assert "q=" in page.url  # and the search is in the address, for the back button and sharing
    assert scroll_width(page) <= VIEWPORT["width"]

    assert foreign == [], "the pages loaded something from outside the site"
    assert failed == []
