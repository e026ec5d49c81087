"""A joint patrol in a real Chromium at phone size: the leader opens this month's plan, walks the
checklist with two problems — one solved on the spot, one recorded — and both land in the ledger."""

import re

import pytest

from issues.models import IssuePhoto, Source, State
from patrols.models import Finding, Patrol, PlanState, WorkLog
from tests.factories import plan
from tests.support import fits, image, log_in, watch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media")]


def photo():
    """A phone's photo, as Playwright hands a file to an <input type=file>."""
    f = image("lamp.jpg", size=(64, 48), fmt="JPEG", colour=(220, 200, 40))
    return {"name": f.name, "mimeType": f.content_type, "buffer": f.read()}


def test_a_leader_walks_the_checklist_and_both_problems_reach_the_ledger(live_server, world, phone):
    w, page, origin = world, phone, live_server.url
    foreign, failed = watch(page, origin)
    p = plan(w.a.compound)
    items = list(p.scenario.template.items.all())
    categories = list(p.scenario.categories.order_by("pk"))
    assert len(items) >= 3 and categories

    log_in(page, origin, "leader_a")
    page.click("nav.nav a[href='/m/patrols/']")
    page.wait_for_url(f"{origin}/m/patrols/")
    page.click(f".card.plan a[href='/m/patrols/plans/{p.pk}/']")
    page.wait_for_url(f"{origin}/m/patrols/plans/{p.pk}/")
    assert fits(page)

    # The community's secretary walked along, and the property company's manager.
    page.locator(".roster label", has_text=w.a.secretary.name).locator("input").check()
    page.fill("[name=o0_name]", "张经理")
    page.fill("[name=o0_role]", "物业公司")

    first, second, third = (page.locator(f"#item-{item.pk}") for item in items[:3])
    # Until an item is a problem, its photo and ledger fields stay out of the way.
    assert not first.locator(f"[name=i{items[0].pk}_photos]").is_visible()

    first.locator("label.result-problem").click()
    first.locator(f"[name=i{items[0].pk}_note]").fill("3栋楼道灯不亮")
    first.locator(f"[name=i{items[0].pk}_photos]").set_input_files(photo())
    first.locator(f"[name=i{items[0].pk}_finding][value=on_spot]").check()
    first.locator(f"[name=i{items[0].pk}_category]").select_option(str(categories[0].pk))
    assert first.locator(f"[name=i{items[0].pk}_grid]").input_value() == str(w.a.mg1.pk)
    first.locator(f"[name=i{items[0].pk}_how]").fill("物业当场更换灯泡")

    second.locator("label.result-problem").click()
    second.locator(f"[name=i{items[1].pk}_note]").fill("垃圾桶满溢未清运")
    assert second.locator(f"[name=i{items[1].pk}_finding][value=record]").is_checked()  # recorded by default
    assert not second.locator(f"[name=i{items[1].pk}_how]").is_visible()
    second.locator(f"[name=i{items[1].pk}_category]").select_option(str(categories[-1].pk))
    second.locator(f"[name=i{items[1].pk}_grid]").select_option(str(w.a.mg1.pk))

    third.locator("label.result-na").click()
    for item in items[3:]:
        page.locator(f"#item-{item.pk} label.result-ok").click()
    assert fits(page)

    with page.expect_response(lambda r: r.request.method == "POST" and f"/m/patrols/plans/{p.pk}/" in r.url):
        page.click("form.patrol button[type=submit]")
    # The boosted form swaps the record page in and pushes its address.
    page.wait_for_url(re.compile(r"/m/patrols/records/\d+/$"))
    page.locator(".findings").wait_for()
    assert not page.locator(".error").count(), page.locator("main").inner_text()

    # In the database: the record, the plan done, two patrol issues in their states.
    patrol = Patrol.objects.get(plan=p)
    p.refresh_from_db()
    assert p.state == PlanState.DONE
    assert {x.name for x in patrol.participants.all()} == {w.a.leader.name, w.a.secretary.name, "张经理"}
    on_spot, recorded = Finding.objects.filter(patrol=patrol).select_related("issue").order_by("id")
    assert (on_spot.on_spot, on_spot.issue.state, on_spot.issue.source) == (True, State.RESOLVED, Source.PATROL)
    assert (recorded.on_spot, recorded.issue.state, recorded.issue.source) == (False, State.RECORDED, Source.PATROL)
    assert on_spot.issue.grid == recorded.issue.grid == w.a.mg1
    assert IssuePhoto.objects.filter(issue=on_spot.issue).count() == 1

    # On the record page, both issues, each a way into the ledger.
    main = page.locator("main")
    for f in (on_spot, recorded):
        assert f.issue.number in main.inner_text()
    assert fits(page)
    page.locator(".findings a", has_text=recorded.issue.number).click()
    page.wait_for_url(f"{origin}/m/issues/{recorded.issue.pk}/")
    assert "垃圾桶满溢未清运" in page.locator("main").inner_text()
    assert fits(page)

    assert foreign == [], "a page loaded something from outside the site"
    assert failed == []


def test_a_home_visit_in_three_taps_and_the_profile_counts_it(live_server, world, phone):
    w, page, origin = world, phone, live_server.url
    foreign, failed = watch(page, origin)
    log_in(page, origin, "leader_a")
    page.goto(f"{origin}/m/patrols/")
    page.click(".actions a[href='/m/patrols/log/']")  # tap 1
    page.wait_for_url(f"{origin}/m/patrols/log/")
    assert page.locator("select[name=grid]").input_value() == str(w.a.mg1.pk)
    assert fits(page)
    page.select_option("select[name=household]", str(w.a.households[0].pk))  # tap 2
    with page.expect_response(lambda r: r.request.method == "POST" and "/m/patrols/log/" in r.url):
        page.click("button[name=kind][value=home_visit]")  # tap 3
    page.locator(".msg.success").wait_for()
    entry = WorkLog.objects.get()
    assert (entry.leader, entry.kind, entry.household) == (w.a.leader, "home_visit", w.a.households[0])
    assert fits(page)

    page.goto(f"{origin}/m/patrols/profile/")
    assert page.locator(".figure.kind-home_visit strong").inner_text() == "1"
    assert fits(page)
    assert foreign == [] and failed == []
