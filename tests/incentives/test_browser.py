"""The points in a real Chromium at phone size: a leader sees the points earned for a patrol and for an
issue resolved on the spot and closed with a satisfied resident, redeems a reward, and the street staff
hand it over (fulfil) from the admin's redemptions list."""

import pytest
from django.utils import timezone

from grid import services as grid_services
from incentives import services
from incentives.models import Account, PointRule, Redemption, Reward
from patrols import services as patrol_services
from tests.factories import act, checklist, issue, plan
from tests.support import fits, log_in, watch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The rules this story earns, as the data migration writes them (a flushing test may have removed them).
RULES = [("patrol_attended", "参加联动巡查", 5, 20), ("resolved_on_spot", "问题现场解决", 3, 30),
         ("closed_satisfied", "问题办结且居民满意", 5, 50)]


def test_a_leader_redeems_points_earned_on_a_patrol_and_a_satisfied_closure(live_server, world, phone):
    w, page, origin = world, phone, live_server.url
    foreign, failed = watch(page, origin)
    for code, name, points, cap in RULES:
        PointRule.objects.get_or_create(code=code, defaults={"name": name, "points": points, "monthly_cap": cap})

    # Through the services, with the domain signals live: each commit's callbacks award the points.
    p = plan(w.a.compound)
    patrol = patrol_services.patrol_record(actor=w.a.leader, plan_id=p.pk, date=timezone.localdate(), items=checklist(p))
    solved = act(issue(w.a.mg1, w.a.leader), "resolve_on_spot", w.a.leader, note="当场更换了灯泡")
    act(solved, "give_feedback", w.a.leader, channel="visit", text="已上门告知", satisfaction="satisfied")
    assert Account.objects.get(user=w.a.leader).balance == 13
    prize = services.reward_save(actor=w.staff, node=w.street, name="环保购物袋", cost=6, stock=5, active=True)
    grid_services.user_grant_admin(user=w.staff, role="street_staff")  # the admin and its street-staff group

    # The leader: the points page from the nav, the balance and the three entries with their sources.
    log_in(page, origin, "leader_a")
    page.click("nav.nav a[href='/m/points/']")
    page.wait_for_url(f"{origin}/m/points/")
    assert page.locator(".figure.balance strong").inner_text().strip() == "13"
    history = page.locator("ul.entries").inner_text()
    for _code, name, _points, _cap in RULES:
        assert name in history
    assert [x.strip() for x in page.locator("ul.entries .pts").all_inner_texts()] == ["+5", "+3", "+5"]
    assert page.locator(f"ul.entries a[href='/m/issues/{solved.pk}/']").count() == 2  # resolved, then closed satisfied
    assert page.locator(f"ul.entries a[href='/m/patrols/records/{patrol.pk}/']").count() == 1
    assert fits(page), page.url

    # Redeem two bags (12 points) from the catalogue.
    page.click("nav.points-tabs a[href='/m/points/rewards/']")
    page.wait_for_url(f"{origin}/m/points/rewards/")
    card = page.locator(f"#reward-{prize.pk}")
    assert "环保购物袋" in card.inner_text()
    card.locator("[name=quantity]").fill("2")
    with page.expect_response(lambda r: r.request.method == "POST" and f"/m/points/rewards/{prize.pk}/redeem/" in r.url):
        card.locator("button[type=submit]").click()
    page.locator(".redemption .state-requested").wait_for()
    page.wait_for_load_state("networkidle")
    assert "环保购物袋 × 2" in page.locator("ul.redemptions").inner_text()
    assert fits(page), page.url
    redemption = Redemption.objects.get()
    assert (redemption.state, redemption.points) == ("requested", 12)
    assert Account.objects.get(user=w.a.leader).balance == 1
    assert Reward.objects.get(pk=prize.pk).stock == 3

    # The street staff hand it over with the admin's list action.
    log_in(page, origin, "staff")
    page.goto(f"{origin}/admin/incentives/redemption/")
    page.check(f"input[name=_selected_action][value='{redemption.pk}']")
    page.select_option("select[name=action]", "fulfil")
    with page.expect_response(lambda r: r.request.method == "POST" and "/admin/incentives/redemption/" in r.url):
        page.click("button[name=index]")
    page.wait_for_load_state("networkidle")
    assert page.locator(".messagelist .success").count() == 1, page.locator(".messagelist").inner_text()
    redemption.refresh_from_db()
    assert (redemption.state, redemption.decided_by) == ("fulfilled", w.staff)

    # The leader's redemptions page shows it handed over, with no cancel button left.
    log_in(page, origin, "leader_a")
    page.goto(f"{origin}/m/points/redemptions/")
    row = page.locator(f"#redemption-{redemption.pk}")
    assert row.locator(".state-fulfilled").count() == 1
    assert row.locator("form").count() == 0
    assert fits(page), page.url
    assert foreign == [], "a page loaded something from outside the site"
    assert failed == []
