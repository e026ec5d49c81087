"""A leader's mobile pages in a real Chromium at phone size (Playwright, sync API, system Chromium)."""

import pytest

from tests.support import PASSWORD, PHONE, scroll_width, watch

VIEWPORT = PHONE
SCREENSHOT = "/tmp/mobile.png"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_leader_logs_in_and_reads_their_microgrid_on_a_phone(live_server, world, phone):
    page = phone
    origin = live_server.url
    foreign, failed = watch(page, origin)

    # Log in.
    page.goto(f"{origin}/m/login/")
    assert page.evaluate("document.documentElement.lang") == "zh-hans"
    assert scroll_width(page) <= VIEWPORT["width"]
    page.fill("#id_username", "leader_a")
    page.fill("#id_password", PASSWORD)
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
