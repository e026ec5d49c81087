"""The whole ledger in a real Chromium at phone size: a resident reports through the QR page, the
leader records it, the secretary assigns it, the property company reports it done, the secretary
verifies, the leader gives feedback, and the resident's tracking page shows that feedback."""

import pytest

from issues.models import Issue, State
from tests.factories import category
from tests.support import fits, log_in, watch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def take(page, origin, issue, action, **fields):
    """Open the issue page, unfold the action's form, fill it and send it."""
    page.goto(f"{origin}/m/issues/{issue.pk}/")
    box = page.locator(f"#act-{action}")
    if box.get_attribute("open") is None:
        box.locator("summary").click()
    for name, value in fields.items():
        field = box.locator(f"[name={name}]")
        if field.first.get_attribute("type") == "radio":
            box.locator(f"[name={name}][value={value}]").check()
        elif field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(str(value))
        else:
            field.fill(str(value))
    # The forms are htmx-boosted: wait for the POST's answer and for the page to settle.
    with page.expect_response(lambda r: r.request.method == "POST" and f"/m/issues/{issue.pk}/{action}/" in r.url):
        box.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert not page.locator(f"#act-{action} .error").count(), page.locator(f"#act-{action}").inner_text()
    assert fits(page)


def test_a_resident_report_goes_all_the_way_to_feedback(live_server, ledger, phone):
    w, page, origin = ledger, phone, live_server.url
    foreign, failed = watch(page, origin)
    cat = category()

    # The resident, from the QR code on the notice board.
    page.goto(f"{origin}/r/{w.a.mg1.code}/")
    page.select_option("#id_category", str(cat.pk))
    page.fill("#id_description", "3单元楼道灯不亮，晚上看不见台阶")
    page.fill("#id_phone", "13955556666")
    page.click("button[type=submit].primary")
    page.locator(".code").wait_for()
    code = page.locator(".code").inner_text().strip()
    issue = Issue.objects.get(tracking_code=code)
    assert issue.state == State.REPORTED and issue.source == "resident"

    log_in(page, origin, "leader_a")
    take(page, origin, issue, "record", note="楼道灯需要物业更换")
    log_in(page, origin, "secretary_a")
    take(page, origin, issue, "assign", handler_org=w.property.pk)
    log_in(page, origin, "worker")
    page.goto(f"{origin}/m/issues/")
    assert issue.number in page.content()  # it is in the property company's queue
    take(page, origin, issue, "submit_done", note="已更换灯泡")
    log_in(page, origin, "secretary_a")
    take(page, origin, issue, "verify", note="现场查看已亮")
    log_in(page, origin, "leader_a")
    take(page, origin, issue, "give_feedback", channel="visit", text="已上门告知灯已修好", satisfaction="satisfied")

    issue.refresh_from_db()
    assert issue.state == State.CLOSED
    assert list(issue.events.values_list("action", flat=True)) == [
        "report", "record", "assign", "submit_done", "verify", "give_feedback"]

    # The resident's tracking page, without an account.
    page.context.clear_cookies()
    page.goto(f"{origin}/track/{code}/")
    feedback = page.locator("section.feedback")
    assert "已上门告知灯已修好" in feedback.inner_text()
    assert "13955556666" not in page.content() and "worker" not in page.content()
    assert fits(page)
    assert foreign == [], "a page loaded something from outside the site"
    assert failed == []
