"""The incentives' admin (incentives/admin.py): every page renders, scope (404 outside, nothing in
lists), who may do what, the ledger's reversal, redemptions fulfilled and cancelled, claims decided
against the fund's budget, rewards / honours / care visits / funds written through the services,
the rankings page with its "give an honour" links, the certificate, the Excel exports and query
budgets on the long lists.

Messages are asserted in English: the tests use conftest's `english` (English in the test and in the
requests it makes), so the assertions hold whatever the zh-hans catalogue says.
"""

import datetime
from decimal import Decimal
from io import BytesIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from incentives import services
from incentives.models import (
    Account,
    CareVisit,
    Entry,
    ExpenseClaim,
    Fund,
    Honour,
    PointRule,
    Redemption,
    Reward,
)
from tests.factories import UserFactory
from tests.support import balance, messages_of, rows, shared_fixture, workbook

User = get_user_model()

pytestmark = pytest.mark.usefixtures("english")


def url(model, view="changelist", *args):
    return reverse(f"admin:incentives_{model}_{view}", args=args)


def errors_of(response):
    return [text for level, text in messages_of(response) if level == "error"]


def action(client, model, name, pks, **extra):
    """The changelist's action button (the first step, from the list). Redirects are followed, so
    the list shows (and uses up) the messages of this request alone."""
    return client.post(url(model), {"action": name, "_selected_action": [str(p) for p in pks], "index": "0",
                                    "select_across": "0", **extra}, follow=True)


def confirm(client, model, name, pks, **extra):
    """The intermediate page's submit (what action_note.html posts)."""
    return client.post(url(model), {"action": name, "_selected_action": [str(p) for p in pks], "apply": "1", **extra},
                       follow=True)


def redirected(response):
    return bool(response.redirect_chain) and response.redirect_chain[-1][1] == 302


def sheet_rows(ws):
    return [list(r) for r in ws.iter_rows(values_only=True)]


@shared_fixture
def incented(ledger):
    """`ledger` plus points for both leaders, rewards of community A, B and the street with a
    redemption each, a street fund of 100 yuan with a claim from each community."""
    w = ledger
    today = timezone.localdate()
    w.entry_patrol = services.points_award(user=w.a.leader, rule="patrol_attended", source="test:a:patrol")  # +5
    w.entry_spot = services.points_award(user=w.a.leader, rule="resolved_on_spot", source="test:a:spot")  # +3
    services.points_award(user=w.b.leader, rule="patrol_attended", source="test:b:patrol")  # +5
    services.points_award(user=w.b.leader, rule="errand_logged", source="test:b:errand")  # +2
    w.reward_a = services.reward_save(actor=w.staff, node=w.a.community, name="洗衣液", cost=5, stock=10, active=True)
    w.reward_b = services.reward_save(actor=w.staff, node=w.b.community, name="毛巾", cost=2, stock=10, active=True)
    w.reward_street = services.reward_save(actor=w.staff, node=w.street, name="保温杯", cost=3, stock=5, active=True)
    w.redemption_a = services.reward_redeem(actor=w.a.leader, reward_id=w.reward_a.pk, quantity=1)  # a: 8 - 5 = 3
    w.redemption_b = services.reward_redeem(actor=w.b.leader, reward_id=w.reward_b.pk, quantity=1)  # b: 7 - 2 = 5
    w.fund = services.fund_save(actor=w.staff, node=w.street, name="误餐出行执勤经费", budget=Decimal("100.00"),
                                starts_on=today.replace(month=1, day=1), ends_on=today.replace(month=12, day=31))
    w.claim_a = services.claim_submit(actor=w.a.leader, fund_id=w.fund.pk, kind="meal", amount="30.00", date=today)
    w.claim_b = services.claim_submit(actor=w.b.leader, fund_id=w.fund.pk, kind="travel", amount="80.00", date=today)
    return w


def honour_of(w, person=None, node=None):
    return services.honour_create(actor=w.staff, title="优秀微网格长", period=f"{timezone.localdate():%Y-%m}",
                                  person=person or w.a.leader, node=node or w.a.community, citation="巡查认真，服务热情")


# --- every page renders ---------------------------------------------------------------------------


def test_every_changelist_change_add_and_custom_page_renders_for_street_staff(client, incented, staff):
    w = incented
    honour = honour_of(w)
    visit = services.carevisit_create(actor=w.staff, leader=w.a.leader, date=timezone.localdate(), occasion="春节")
    client.force_login(staff)
    objects = {
        "pointrule": PointRule.objects.get(code="patrol_attended").pk, "entry": w.entry_patrol.pk,
        "account": Account.objects.get(user=w.a.leader).pk, "reward": w.reward_a.pk,
        "redemption": w.redemption_a.pk, "honour": honour.pk, "carevisit": visit.pk, "fund": w.fund.pk,
        "expenseclaim": w.claim_a.pk,
    }
    for model, pk in objects.items():
        response = client.get(url(model))
        assert response.status_code == 200, model
        assert pk in rows(response), model
        assert client.get(url(model, "change", pk)).status_code == 200, model
    for model in ("pointrule", "reward", "honour", "carevisit", "fund"):
        assert client.get(url(model, "add")).status_code == 200, model
    # Written elsewhere: the ledger, accounts, redemptions and claims have no add page.
    for model in ("entry", "account", "redemption", "expenseclaim"):
        assert client.get(url(model, "add")).status_code == 403, model
    custom = [
        reverse("admin:incentives_honour_rankings"),
        reverse("admin:incentives_honour_certificate", args=[honour.pk]),
        reverse("admin:incentives_entry_reverse", args=[w.entry_spot.pk]),
    ]
    for page in custom:
        assert client.get(page).status_code == 200, page
    for export in (reverse("admin:incentives_entry_export"), reverse("admin:incentives_honour_rankings_export"),
                   reverse("admin:incentives_fund_report_export", args=[w.fund.pk])):
        assert workbook(client.get(export)) is not None
    # The ledger and rewards are never deleted here.
    assert client.get(url("pointrule", "delete", objects["pointrule"])).status_code == 403
    assert client.get(url("reward", "delete", w.reward_a.pk)).status_code == 403


def test_lists_link_to_rankings_ledger_and_certificates(client, incented, staff):
    w = incented
    honour = honour_of(w)
    client.force_login(staff)
    html = client.get(url("honour")).content.decode()
    assert reverse("admin:incentives_honour_rankings") in html
    assert reverse("admin:incentives_honour_certificate", args=[honour.pk]) in html
    account = Account.objects.get(user=w.a.leader)
    html = client.get(url("account")).content.decode()
    ledger_link = url("entry") + f"?account__id__exact={account.pk}"
    assert ledger_link in html
    response = client.get(ledger_link)
    assert response.status_code == 200
    assert rows(response) == set(Entry.objects.filter(account=account).values_list("pk", flat=True))


# --- scope ---------------------------------------------------------------------------------------


def test_another_communitys_secretary_gets_404_and_sees_nothing_of_a(client, incented, secretary_b):
    w = incented
    honour = honour_of(w)
    visit = services.carevisit_create(actor=w.staff, leader=w.a.leader, date=timezone.localdate(), occasion="春节")
    client.force_login(secretary_b)
    for model, pk in [("expenseclaim", w.claim_a.pk), ("redemption", w.redemption_a.pk), ("entry", w.entry_spot.pk),
                      ("account", Account.objects.get(user=w.a.leader).pk), ("honour", honour.pk),
                      ("carevisit", visit.pk), ("reward", w.reward_a.pk)]:
        assert client.get(url(model, "change", pk)).status_code == 404, model
    assert client.get(reverse("admin:incentives_honour_certificate", args=[honour.pk])).status_code == 404
    claims = rows(client.get(url("expenseclaim")))
    assert w.claim_a.pk not in claims and w.claim_b.pk in claims
    redemptions = rows(client.get(url("redemption")))
    assert w.redemption_a.pk not in redemptions and w.redemption_b.pk in redemptions
    entries = client.get(url("entry")).context["cl"].result_list
    assert entries and {e.account.user_id for e in entries} == {w.b.leader.pk}
    assert w.a.leader.pk not in {a.user_id for a in client.get(url("account")).context["cl"].result_list}
    assert honour.pk not in rows(client.get(url("honour")))
    assert visit.pk not in rows(client.get(url("carevisit")))
    assert w.reward_a.pk not in rows(client.get(url("reward")))


def test_actions_on_rows_outside_the_scope_do_nothing(client, incented, secretary_b):
    w = incented
    client.force_login(secretary_b)
    response = action(client, "expenseclaim", "approve", [w.claim_a.pk])
    assert redirected(response) and not [m for m in messages_of(response) if m[0] == "success"]
    response = action(client, "redemption", "fulfil", [w.redemption_a.pk])
    assert redirected(response) and not [m for m in messages_of(response) if m[0] == "success"]
    assert ExpenseClaim.objects.get(pk=w.claim_a.pk).state == ExpenseClaim.State.SUBMITTED
    assert Redemption.objects.get(pk=w.redemption_a.pk).state == Redemption.State.REQUESTED
    assert Fund.objects.get(pk=w.fund.pk).approved == 0


def test_fund_report_export_and_rankings_outside_the_scope(client, incented, secretary_b):
    w = incented
    own = services.fund_save(actor=w.staff, node=w.a.community, name="A社区经费", budget=Decimal("50.00"),
                             starts_on=w.fund.starts_on, ends_on=w.fund.ends_on)
    client.force_login(secretary_b)
    assert client.get(url("fund", "change", own.pk)).status_code == 404
    assert client.get(reverse("admin:incentives_fund_report_export", args=[own.pk])).status_code == 404
    # Community A is not a choice of B's secretary: the ranking is refused as a field error.
    response = client.get(reverse("admin:incentives_honour_rankings"), {"node": w.a.community.pk, "period": "2026",
                                                                         "by": "points"})
    assert response.status_code == 200
    assert "node" in response.context["form"].errors and response.context["rows"] == []
    assert [n.pk for n in response.context["form"].fields["node"].queryset] == [w.b.community.pk]


# --- who may do what -----------------------------------------------------------------------------


def test_party_branch_reads_rewards_but_adds_none(client, incented, branch):
    w = incented
    client.force_login(branch)
    assert client.get(url("reward")).status_code == 200
    assert client.get(url("reward", "add")).status_code == 403
    before = Reward.objects.count()
    response = client.post(url("reward", "add"), {"name": "雨伞", "cost": 4, "stock": 3, "initial-stock": 3,
                                                  "active": "on", "node": w.a.community.pk})
    assert response.status_code == 403
    assert Reward.objects.count() == before
    for model in ("entry", "expenseclaim", "redemption", "fund"):
        assert client.get(url(model)).status_code == 403, model
    assert client.get(reverse("admin:incentives_honour_rankings")).status_code == 403


def test_secretary_cannot_reverse_points(client, incented, secretary):
    w = incented
    client.force_login(secretary)
    response = client.get(url("entry"))
    assert response.status_code == 200
    assert response.context["action_form"] is None  # no action at all: the ledger's only one is the reversal
    assert client.get(reverse("admin:incentives_entry_reverse", args=[w.entry_spot.pk])).status_code == 403
    confirm(client, "entry", "reverse_entries", [w.entry_spot.pk], note="错记")
    assert not Entry.objects.filter(reverses=w.entry_spot).exists()


def test_secretary_keeps_rewards_of_her_community_only(client, incented, secretary):
    w = incented
    client.force_login(secretary)
    form = client.get(url("reward", "add")).context["adminform"].form
    assert [n.pk for n in form.fields["node"].queryset] == [w.a.community.pk]
    # The street's reward is offered to her people, so she sees it, but she does not keep it.
    assert w.reward_street.pk in rows(client.get(url("reward")))
    html = client.get(url("reward", "change", w.reward_street.pk)).content.decode()
    assert 'name="_save"' not in html
    response = client.post(url("reward", "change", w.reward_street.pk), {
        "name": "改名", "cost": 3, "stock": 5, "initial-stock": 5, "active": "on", "node": w.street.pk})
    assert response.status_code == 403
    assert Reward.objects.get(pk=w.reward_street.pk).name == "保温杯"


# --- the points ledger -----------------------------------------------------------------------------


def test_reversing_an_entry_asks_for_a_note_and_adds_a_reversing_entry(client, incented, staff):
    w = incented
    client.force_login(staff)
    original = Entry.objects.get(pk=w.entry_spot.pk)
    assert balance(w.a.leader) == 3
    response = action(client, "entry", "reverse_entries", [original.pk])
    assert response.status_code == 200
    assert response.templates[0].name == "admin/incentives/action_note.html"
    assert str(original) in response.content.decode()
    # Without a note: the page again, nothing written.
    response = confirm(client, "entry", "reverse_entries", [original.pk], note="")
    assert response.status_code == 200 and response.context["form"].errors
    assert not Entry.objects.filter(reverses=original).exists()

    response = confirm(client, "entry", "reverse_entries", [original.pk], note="录入错误")
    assert redirected(response)
    assert ("success", "1 entry reversed.") in messages_of(response)
    reversal = Entry.objects.get(reverses=original)
    assert (reversal.points, reversal.note, reversal.actor_id) == (-3, "录入错误", staff.pk)
    assert balance(w.a.leader) == 0
    untouched = Entry.objects.get(pk=original.pk)
    assert (untouched.points, untouched.source, untouched.note) == (original.points, original.source, original.note)
    # The list shows which entry reversed which.
    html = client.get(url("entry")).content.decode()
    assert reverse("admin:incentives_entry_change", args=[reversal.pk]) in html

    # Twice, or the reversal itself: refused, said, nothing written.
    count = Entry.objects.count()
    response = confirm(client, "entry", "reverse_entries", [original.pk, reversal.pk], note="再来一次")
    assert len(errors_of(response)) == 2
    assert all("reversed already" in e for e in errors_of(response))
    assert Entry.objects.count() == count and balance(w.a.leader) == 0


def test_a_reversal_the_balance_cannot_carry_is_refused_per_entry(client, incented, staff):
    w = incented
    client.force_login(staff)
    b_entry = Entry.objects.get(source="test:b:errand")
    # leader_a holds 3 points: taking back the patrol's 5 would go below zero; leader_b's 2 can go.
    response = confirm(client, "entry", "reverse_entries", [w.entry_patrol.pk, b_entry.pk], note="核对后更正")
    errors = errors_of(response)
    assert len(errors) == 1 and "balance is lower" in errors[0]
    assert ("success", "1 entry reversed.") in messages_of(response)
    assert not Entry.objects.filter(reverses=w.entry_patrol).exists()
    assert Entry.objects.filter(reverses=b_entry).exists()
    assert (balance(w.a.leader), balance(w.b.leader)) == (3, 3)


def test_the_entry_page_has_its_own_reverse_button(client, incented, staff):
    w = incented
    client.force_login(staff)
    reverse_url = reverse("admin:incentives_entry_reverse", args=[w.entry_spot.pk])
    assert reverse_url in client.get(url("entry", "change", w.entry_spot.pk)).content.decode()
    response = client.post(reverse_url, {"note": "重复记分"})
    assert response.status_code == 302
    assert Entry.objects.get(reverses=w.entry_spot).points == -3
    # Reversed: no button any more, and the page refuses a second time.
    assert reverse_url not in client.get(url("entry", "change", w.entry_spot.pk)).content.decode()
    client.post(reverse_url, {"note": "又一次"})
    assert Entry.objects.filter(source=f"reverse:{w.entry_spot.pk}").count() == 1


def test_ledger_filters_and_export(client, incented, staff):
    w = incented
    client.force_login(staff)
    spot = PointRule.objects.get(code="resolved_on_spot")
    response = client.get(url("entry"), {"rule__id__exact": spot.pk})
    assert rows(response) == {w.entry_spot.pk}
    response = client.get(url("entry"), {"q": "leader_b"})
    assert rows(response) == set(Entry.objects.filter(account__user=w.b.leader).values_list("pk", flat=True))

    ws = workbook(client.get(reverse("admin:incentives_entry_export"), {"q": "leader_a"})).active
    header, *data = sheet_rows(ws)
    assert header[:5] == ["entry", "time", "person", "username", "points"]
    assert {r[3] for r in data} == {"leader_a"}
    by_id = {r[0]: r for r in data}
    assert by_id[w.entry_spot.pk][4] == 3 and by_id[w.entry_spot.pk][6] == "test:a:spot"
    assert len(data) == Entry.objects.filter(account__user=w.a.leader).count()


def test_ledger_export_of_a_secretary_holds_her_community_only(client, incented, secretary):
    client.force_login(secretary)
    ws = workbook(client.get(reverse("admin:incentives_entry_export"))).active
    header, *data = sheet_rows(ws)
    assert data and {r[3] for r in data} == {"leader_a"}


# --- rules ---------------------------------------------------------------------------------------


def test_street_staff_add_and_change_rules_but_not_their_code(client, incented, staff):
    client.force_login(staff)
    response = client.post(url("pointrule", "add"), {"code": "meeting_attended", "name": "参加分析会", "points": 2,
                                                     "monthly_cap": 8, "active": "on"})
    assert response.status_code == 302
    rule = PointRule.objects.get(code="meeting_attended")
    assert (rule.points, rule.monthly_cap) == (2, 8)
    response = client.post(url("pointrule", "change", rule.pk), {"code": "renamed", "name": "参加分析会", "points": 3,
                                                                "monthly_cap": "", "active": "on"})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.code, rule.points, rule.monthly_cap) == ("meeting_attended", 3, None)
    # Zero points is refused by the form, nothing written.
    response = client.post(url("pointrule", "add"), {"code": "nothing", "name": "无", "points": 0, "active": "on"})
    assert response.status_code == 200
    assert not PointRule.objects.filter(code="nothing").exists()


# --- rewards and redemptions -----------------------------------------------------------------------


def test_adding_a_reward_goes_through_the_service(client, incented, secretary):
    w = incented
    client.force_login(secretary)
    response = client.post(url("reward", "add"), {"name": "雨伞", "description": "", "cost": 4, "stock": 3,
                                                  "initial-stock": 3, "active": "on", "node": w.a.community.pk})
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    reward = Reward.objects.get(name="雨伞")
    # The scope columns are the service's work.
    assert (reward.street_id, reward.community_id, reward.stock) == (w.street.pk, w.a.community.pk, 3)
    # A place she does not keep is not a choice; nothing is written.
    response = client.post(url("reward", "add"), {"name": "手套", "cost": 1, "stock": 1, "initial-stock": 1,
                                                  "active": "on", "node": w.b.community.pk})
    assert response.status_code == 200 and "node" in response.context["adminform"].form.errors
    assert not Reward.objects.filter(name="手套").exists()


def test_changing_a_reward_keeps_stock_redeemed_meanwhile(client, incented, staff):
    w = incented
    client.force_login(staff)
    shown = Reward.objects.get(pk=w.reward_a.pk).stock  # 9: the form is opened...
    services.points_award(user=w.a.leader, rule="closed_satisfied", source="test:a:closed")
    services.reward_redeem(actor=w.a.leader, reward_id=w.reward_a.pk, quantity=1)  # ...a leader redeems meanwhile
    response = client.post(url("reward", "change", w.reward_a.pk), {
        "name": "洗衣液（大瓶）", "description": "", "cost": 5, "stock": shown, "initial-stock": shown, "active": "on",
        "node": w.a.community.pk})
    assert response.status_code == 302
    reward = Reward.objects.get(pk=w.reward_a.pk)
    assert (reward.name, reward.stock) == ("洗衣液（大瓶）", shown - 1)
    # A stock the staff did change is theirs: the count they made.
    client.post(url("reward", "change", w.reward_a.pk), {
        "name": reward.name, "description": "", "cost": 5, "stock": 20, "initial-stock": reward.stock, "active": "on",
        "node": w.a.community.pk})
    assert Reward.objects.get(pk=w.reward_a.pk).stock == 20


def test_fulfil_and_cancel_redemptions(client, incented, staff):
    w = incented
    client.force_login(staff)
    assert client.get(url("redemption"), {"state__exact": "requested"}).status_code == 200
    response = action(client, "redemption", "fulfil", [w.redemption_a.pk])
    assert redirected(response)
    assert ("success", "1 redemption fulfilled.") in messages_of(response)
    fulfilled = Redemption.objects.get(pk=w.redemption_a.pk)
    assert (fulfilled.state, fulfilled.decided_by_id) == (Redemption.State.FULFILLED, staff.pk)
    # Cancelling: leader_b's points and the stock come back; a fulfilled one cannot be cancelled.
    stock = Reward.objects.get(pk=w.reward_b.pk).stock
    response = action(client, "redemption", "cancel", [w.redemption_b.pk, w.redemption_a.pk])
    assert ("success", "1 redemption cancelled.") in messages_of(response)
    assert len(errors_of(response)) == 1 and "fulfilled already" in errors_of(response)[0]
    assert Redemption.objects.get(pk=w.redemption_b.pk).state == Redemption.State.CANCELLED
    assert Redemption.objects.get(pk=w.redemption_a.pk).state == Redemption.State.FULFILLED
    assert balance(w.b.leader) == 7
    assert Reward.objects.get(pk=w.reward_b.pk).stock == stock + 1
    assert rows(client.get(url("redemption"), {"state__exact": "requested"})) == set()


# --- the expense fund and its claims ------------------------------------------------------------------


def test_approving_draws_on_the_fund_and_over_budget_changes_nothing(client, incented, staff):
    w = incented
    client.force_login(staff)
    response = action(client, "expenseclaim", "approve", [w.claim_a.pk])
    assert ("success", "1 claim approved.") in messages_of(response)
    assert ExpenseClaim.objects.get(pk=w.claim_a.pk).state == ExpenseClaim.State.APPROVED
    assert Fund.objects.get(pk=w.fund.pk).approved == Decimal("30.00")
    # 30 + 80 > 100: the fund is exhausted, the claim stays submitted, the fund unchanged.
    response = action(client, "expenseclaim", "approve", [w.claim_b.pk])
    assert errors_of(response) and "not enough left" in errors_of(response)[0]
    assert not [m for m in messages_of(response) if m[0] == "success"]
    assert ExpenseClaim.objects.get(pk=w.claim_b.pk).state == ExpenseClaim.State.SUBMITTED
    fund = Fund.objects.get(pk=w.fund.pk)
    assert (fund.approved, fund.paid) == (Decimal("30.00"), Decimal("0"))
    # Paying the approved claim.
    response = action(client, "expenseclaim", "pay", [w.claim_a.pk, w.claim_b.pk])
    assert ("success", "1 claim paid.") in messages_of(response)
    assert len(errors_of(response)) == 1  # claim B is not approved
    assert Fund.objects.get(pk=w.fund.pk).paid == Decimal("30.00")
    assert ExpenseClaim.objects.get(pk=w.claim_a.pk).state == ExpenseClaim.State.PAID


def test_rejecting_needs_a_note(client, incented, staff):
    w = incented
    client.force_login(staff)
    response = action(client, "expenseclaim", "reject", [w.claim_b.pk])
    assert response.status_code == 200 and response.templates[0].name == "admin/incentives/action_note.html"
    response = confirm(client, "expenseclaim", "reject", [w.claim_b.pk], note="  ")
    assert response.status_code == 200 and "note" in response.context["form"].errors
    assert ExpenseClaim.objects.get(pk=w.claim_b.pk).state == ExpenseClaim.State.SUBMITTED
    response = confirm(client, "expenseclaim", "reject", [w.claim_b.pk], note="缺少发票")
    assert ("success", "1 claim rejected.") in messages_of(response)
    claim = ExpenseClaim.objects.get(pk=w.claim_b.pk)
    assert (claim.state, claim.decision_note) == (ExpenseClaim.State.REJECTED, "缺少发票")
    assert Fund.objects.get(pk=w.fund.pk).approved == 0


def test_a_secretary_cannot_decide_claims_on_the_streets_fund(client, incented, secretary):
    w = incented
    client.force_login(secretary)
    assert rows(client.get(url("expenseclaim"))) == {w.claim_a.pk}
    response = action(client, "expenseclaim", "approve", [w.claim_a.pk])
    assert errors_of(response) and "keep the fund" in errors_of(response)[0]
    assert ExpenseClaim.objects.get(pk=w.claim_a.pk).state == ExpenseClaim.State.SUBMITTED


def test_claim_filters_and_receipt_thumbnail(client, incented, staff, settings, tmp_path):
    w = incented
    settings.MEDIA_ROOT = tmp_path
    buf = BytesIO()
    Image.new("RGB", (20, 20), "white").save(buf, "PNG")
    with_receipt = services.claim_submit(actor=w.a.leader, fund_id=w.fund.pk, kind="duty", amount="12.50",
                                         date=timezone.localdate(),
                                         receipt=SimpleUploadedFile("r.png", buf.getvalue(), "image/png"))
    other = services.fund_save(actor=w.staff, node=w.b.community, name="B社区经费", budget=Decimal("10.00"),
                               starts_on=w.fund.starts_on, ends_on=w.fund.ends_on)
    client.force_login(staff)
    assert rows(client.get(url("expenseclaim"), {"kind__exact": "duty"})) == {with_receipt.pk}
    assert rows(client.get(url("expenseclaim"), {"fund": other.pk})) == set()
    assert rows(client.get(url("expenseclaim"), {"fund": w.fund.pk})) == {w.claim_a.pk, w.claim_b.pk, with_receipt.pk}
    assert rows(client.get(url("expenseclaim"), {"ancestor": w.b.community.pk})) == {w.claim_b.pk}
    html = client.get(url("expenseclaim")).content.decode()
    assert with_receipt.receipt.url in html and 'class="receipt-thumb"' in html
    assert with_receipt.receipt.url in client.get(url("expenseclaim", "change", with_receipt.pk)).content.decode()


def test_funds_are_added_and_changed_through_the_service_with_their_report(client, incented, staff):
    w = incented
    client.force_login(staff)
    today = timezone.localdate()
    response = client.post(url("fund", "add"), {"name": "A社区专项", "node": w.a.community.pk, "budget": "500.00",
                                                "starts_on": today.replace(day=1), "ends_on": today})
    assert response.status_code == 302
    fund = Fund.objects.get(name="A社区专项")
    assert (fund.street_id, fund.community_id, fund.budget) == (w.street.pk, w.a.community.pk, Decimal("500.00"))
    # The street fund: approve claim A, then try a budget below what is approved.
    services.claim_approve(actor=w.staff, claim_id=w.claim_a.pk)
    data = {"name": w.fund.name, "node": w.street.pk, "budget": "20.00", "starts_on": w.fund.starts_on,
            "ends_on": w.fund.ends_on}
    response = client.post(url("fund", "change", w.fund.pk), data)
    assert response.status_code == 200
    assert "budget" in response.context["adminform"].form.errors
    assert Fund.objects.get(pk=w.fund.pk).budget == Decimal("100.00")
    # A wrong period is a field error too.
    response = client.post(url("fund", "change", w.fund.pk), {**data, "budget": "200.00",
                                                              "ends_on": w.fund.starts_on - datetime.timedelta(days=1)})
    assert "ends_on" in response.context["adminform"].form.errors
    response = client.post(url("fund", "change", w.fund.pk), {**data, "budget": "350000.00"})
    assert response.status_code == 302
    fund = Fund.objects.get(pk=w.fund.pk)
    # The approved total moved with the claim, not with the form.
    assert (fund.budget, fund.approved) == (Decimal("350000.00"), Decimal("30.00"))

    response = client.get(url("fund", "change", w.fund.pk))
    report = response.context["fund_report"]
    assert (report["approved"], report["remaining"]) == (Decimal("30.00"), Decimal("349970.00"))
    assert report["by_community"] == [{"community": w.a.community.name, "approved": Decimal("30.00"), "paid": 0}]
    html = response.content.decode()
    assert 'id="fund-report"' in html and reverse("admin:incentives_fund_report_export", args=[w.fund.pk]) in html


def test_fund_report_export(client, incented, staff):
    w = incented
    services.claim_approve(actor=w.staff, claim_id=w.claim_a.pk)
    services.claim_pay(actor=w.staff, claim_id=w.claim_a.pk)
    client.force_login(staff)
    wb = workbook(client.get(reverse("admin:incentives_fund_report_export", args=[w.fund.pk])))
    assert wb.sheetnames == ["fund report", "by kind", "by community"]
    summary = {r[0]: r[1] for r in sheet_rows(wb["fund report"])[1:]}
    assert summary["budget"] == 100 and summary["approved"] == 30 and summary["paid"] == 30
    assert summary["remaining"] == 70 and summary["submitted, not yet decided"] == 80
    kinds = {r[0]: r[1:] for r in sheet_rows(wb["by kind"])[1:]}
    assert kinds["meal"] == [30, 30] and kinds["travel"] == [0, 0]
    assert sheet_rows(wb["by community"])[1:] == [[w.a.community.name, 30, 30]]


# --- rankings, honours and the certificate ----------------------------------------------------------------


def test_rankings_page_lists_and_links_to_a_prefilled_honour(client, incented, staff):
    w = incented
    client.force_login(staff)
    period = f"{timezone.localdate():%Y-%m}"
    response = client.get(reverse("admin:incentives_honour_rankings"))  # the street's points this month
    assert response.status_code == 200
    assert response.context["node"] == w.street
    ranked = [(r["username"], r["value"]) for r in response.context["rows"]]
    assert ranked[:2] == [("leader_a", 8), ("leader_b", 7)]
    first = response.context["rows"][0]
    query = parse_qs(urlsplit(first["honour_url"]).query)
    assert query["person"] == [str(w.a.leader.pk)] and query["node"] == [str(w.street.pk)]
    assert query["period"] == [period] and query["title"] == ["优秀微网格长"]
    form = client.get(first["honour_url"]).context["adminform"].form
    assert str(form["person"].value()) == str(w.a.leader.pk) and form["period"].value() == period
    # One community, by work logs: nobody logged any.
    response = client.get(reverse("admin:incentives_honour_rankings"),
                          {"node": w.b.community.pk, "period": period[:4], "by": "worklogs"})
    assert response.context["rows"] == [] and not response.context["form"].errors
    response = client.get(reverse("admin:incentives_honour_rankings"),
                          {"node": w.b.community.pk, "period": "2026-13", "by": "points"})
    assert "period" in response.context["form"].errors


def test_ranking_export(client, incented, secretary):
    w = incented
    client.force_login(secretary)
    period = f"{timezone.localdate():%Y-%m}"
    ws = workbook(client.get(reverse("admin:incentives_honour_rankings_export"),
                             {"node": w.a.community.pk, "period": period, "by": "points"})).active
    header, *data = sheet_rows(ws)
    assert header == ["rank", "person", "username", "points earned"]
    assert data == [[1, str(w.a.leader), "leader_a", 8]]


def test_giving_an_honour_goes_through_the_service_and_prints_a_certificate(client, incented, secretary):
    w = incented
    client.force_login(secretary)
    period = f"{timezone.localdate():%Y-%m}"
    data = {"title": "优秀微网格长", "period": period, "person": w.a.leader.pk, "node": w.a.community.pk,
            "citation": "本月积分第一"}
    response = client.post(url("honour", "add"), data)
    assert response.status_code == 302
    honour = Honour.objects.get()
    assert (honour.created_by_id, honour.community_id) == (secretary.pk, w.a.community.pk)
    assert honour.street_id == w.street.pk
    # The same title for the same period again: a form error, nothing written.
    response = client.post(url("honour", "add"), data)
    assert response.status_code == 200 and response.context["adminform"].form.errors
    assert Honour.objects.count() == 1
    response = client.post(url("honour", "add"), {**data, "period": "2026-Q5"})
    assert "period" in response.context["adminform"].form.errors
    # A person outside her community is no choice.
    response = client.post(url("honour", "add"), {**data, "person": w.b.leader.pk})
    assert "person" in response.context["adminform"].form.errors
    assert Honour.objects.count() == 1

    response = client.get(reverse("admin:incentives_honour_certificate", args=[honour.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert str(w.a.leader) in html and "优秀微网格长" in html and "本月积分第一" in html
    assert w.a.community.name in html and w.street.name in html
    assert "size: A4" in html
    assert "http://" not in html and "https://" not in html and "<link" not in html and "<script src" not in html


def test_care_visits_are_recorded_through_the_service(client, incented, secretary):
    w = incented
    client.force_login(secretary)
    today = timezone.localdate()
    response = client.post(url("carevisit", "add"), {"date": today, "leader": w.a.leader.pk, "occasion": "中秋",
                                                     "gift": "月饼一盒"})
    assert response.status_code == 302
    visit = CareVisit.objects.get()
    assert (visit.visitor_id, visit.node_id, visit.gift) == (secretary.pk, w.a.community.pk, "月饼一盒")
    response = client.post(url("carevisit", "add"), {"date": today + datetime.timedelta(days=1),
                                                     "leader": w.a.leader.pk, "occasion": "中秋"})
    assert "date" in response.context["adminform"].form.errors
    response = client.post(url("carevisit", "add"), {"date": today, "leader": w.b.leader.pk, "occasion": "中秋"})
    assert "leader" in response.context["adminform"].form.errors
    assert CareVisit.objects.count() == 1


# --- query budgets -------------------------------------------------------------------------------------


def more_rows(w, n):
    """n more entries, redemptions and claims in both communities."""
    for i in range(n):
        side = w.a if i % 2 else w.b
        services.points_award(user=side.leader, rule="closed_satisfied", source=f"more:{i}")
        reward = w.reward_a if side is w.a else w.reward_b
        services.reward_redeem(actor=side.leader, reward_id=reward.pk, quantity=1)
        services.claim_submit(actor=side.leader, fund_id=w.fund.pk, kind="meal", amount="1.00",
                              date=timezone.localdate(), note=f"误餐 {i}")


@pytest.mark.parametrize("model, budget", [("entry", 10), ("expenseclaim", 12), ("redemption", 10)])
@pytest.mark.parametrize("who", ["staff", "secretary"])
def test_changelist_query_budget_does_not_grow_with_rows(client, incented, request, who, model, budget):
    w = incented
    client.force_login(request.getfixturevalue(who))

    def measure():
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url(model))
        assert response.status_code == 200
        return len(ctx.captured_queries), len(response.context["cl"].result_list)

    small, shown_small = measure()
    more_rows(w, 6)
    big, shown_big = measure()
    assert shown_big > shown_small
    assert small == big, (small, big)
    assert big <= budget, big


def test_leaders_without_the_admin_are_sent_to_the_login(client, incented):
    client.force_login(incented.a.leader)
    assert client.get(url("expenseclaim")).status_code == 302
    client.force_login(UserFactory(username="nobody"))
    assert client.get(reverse("admin:incentives_honour_rankings")).status_code == 302
