import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from common import errors as common_errors
from incentives import selectors, services
from incentives.models import Account, Entry, ExpenseClaim, Fund, Honour, PointRule, Redemption, Reward
from tests.support import balance, shared_fixture


def award(user, n=1, rule="patrol_attended", prefix="t"):
    return [services.points_award(user=user, rule=rule, source=f"{prefix}:{user.pk}:{i}") for i in range(n)]


# --- the ledger -------------------------------------------------------------------------------


def test_an_award_once_per_source(world):
    first = services.points_award(user=world.a.leader, rule="patrol_attended", source="patrol:1:attended:5")
    again = services.points_award(user=world.a.leader, rule="patrol_attended", source="patrol:1:attended:5")
    assert first.points == 5 and again is None
    assert balance(world.a.leader) == 5 and Entry.objects.count() == 1


def test_monthly_caps_clip_and_stop(world):
    rule = PointRule.objects.get(code="patrol_attended")  # +5, cap 20
    rule.monthly_cap = 12
    rule.save()
    entries = award(world.a.leader, 4)
    assert [e.points if e else None for e in entries] == [5, 5, 2, None]
    assert balance(world.a.leader) == 12
    last_month = timezone.now() - datetime.timedelta(days=40)
    earlier = services.points_award(user=world.a.leader, rule=rule, source="old", when=last_month)
    assert earlier.points == 5  # another month, another cap


def test_penalties_take_no_more_than_the_balance(world):
    award(world.a.leader, 1, rule="errand_logged")  # +2
    penalty = services.points_award(user=world.a.leader, rule="red_card", source="card")  # -5
    assert penalty.points == -2 and balance(world.a.leader) == 0
    assert services.points_award(user=world.a.leader, rule="reopened", source="reopen") is None


def test_inactive_rules_award_nothing(world):
    PointRule.objects.filter(code="errand_logged").update(active=False)
    assert services.points_award(user=world.a.leader, rule="errand_logged", source="x") is None
    assert services.points_award(user=world.a.leader, rule="no_such_rule", source="y") is None


def test_entries_are_append_only_and_balance_cannot_go_negative(world):
    entry = award(world.a.leader)[0]
    entry.note = "edited"
    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(user=world.a.leader).update(balance=-1)


def test_a_reversal_mirrors_the_entry(world):
    entry = award(world.a.leader)[0]
    reversal = services.entry_reverse(entry_id=entry.pk, actor=world.staff, note="误记")
    assert (reversal.points, reversal.reverses, reversal.source) == (-5, entry, f"reverse:{entry.pk}")
    assert balance(world.a.leader) == 0
    with pytest.raises(ValidationError):
        services.entry_reverse(entry_id=entry.pk, actor=world.staff)
    with pytest.raises(ValidationError):
        services.entry_reverse(entry_id=reversal.pk, actor=world.staff)
    other = award(world.a.leader, prefix="b")[0]
    with pytest.raises(PermissionDenied):
        services.entry_reverse(entry_id=other.pk, actor=world.b.secretary)
    assert services.reconcile_points() == []


def test_reconcile_finds_a_tampered_balance(world):
    award(world.a.leader, 2)
    Account.objects.filter(user=world.a.leader).update(balance=99)
    assert services.reconcile_points() == [
        {"account": Account.objects.get(user=world.a.leader).pk, "user": "leader_a", "balance": 99, "entries": 10}]


# --- rewards ----------------------------------------------------------------------------------


@shared_fixture
def shop(world):
    world.reward = services.reward_save(actor=world.staff, node=world.street, name="洗衣液", cost=10, stock=3, active=True)
    world.local = services.reward_save(actor=world.a.secretary, node=world.a.community, name="理发券", cost=5, stock=5,
                                       active=True)
    award(world.a.leader, 4)  # 20 points
    return world


def test_redeeming_takes_points_and_stock_together(shop):
    w = shop
    r = services.reward_redeem(actor=w.a.leader, reward_id=w.reward.pk, quantity=2)
    assert (r.state, r.points, r.quantity) == (Redemption.State.REQUESTED, 20, 2)
    w.reward.refresh_from_db()
    assert w.reward.stock == 1 and balance(w.a.leader) == 0
    assert Entry.objects.get(source=f"redemption:{r.pk}").points == -20
    assert (r.street, r.community) == (w.street, None)


@pytest.mark.parametrize("quantity", [0, -1, "x", "1.5", 101])
def test_a_bad_quantity_writes_nothing(shop, quantity):
    with pytest.raises(ValidationError) as e:
        services.reward_redeem(actor=shop.a.leader, reward_id=shop.reward.pk, quantity=quantity)
    assert "quantity" in e.value.message_dict
    assert not Redemption.objects.exists() and balance(shop.a.leader) == 20


def test_out_of_stock_and_out_of_points_change_nothing(shop):
    w = shop
    with pytest.raises(services.OutOfStock):
        services.reward_redeem(actor=w.a.leader, reward_id=w.reward.pk, quantity=4)
    with pytest.raises(services.NotEnoughPoints):
        services.reward_redeem(actor=w.a.leader, reward_id=w.reward.pk, quantity=3)
    w.reward.refresh_from_db()
    assert w.reward.stock == 3 and balance(w.a.leader) == 20 and not Redemption.objects.exists()


def test_rewards_are_offered_inside_their_node(shop):
    w = shop
    award(w.b.leader, 2)
    with pytest.raises(Reward.DoesNotExist):  # community A's own reward
        services.reward_redeem(actor=w.b.leader, reward_id=w.local.pk)
    assert services.reward_redeem(actor=w.b.leader, reward_id=w.reward.pk).points == 10
    Reward.objects.filter(pk=w.reward.pk).update(active=False)
    with pytest.raises(Reward.DoesNotExist):
        services.reward_redeem(actor=w.a.leader, reward_id=w.reward.pk)
    assert set(selectors.visible_rewards(w.b.leader)) == {w.reward}
    assert set(selectors.visible_rewards(w.a.leader)) == {w.reward, w.local}


def test_cancelling_refunds_by_a_reversal_and_restores_stock(shop):
    w = shop
    r = services.reward_redeem(actor=w.a.leader, reward_id=w.reward.pk, quantity=1)
    with pytest.raises(PermissionDenied):
        services.redemption_cancel(actor=w.b.leader, redemption_id=r.pk)
    services.redemption_cancel(actor=w.a.leader, redemption_id=r.pk)
    w.reward.refresh_from_db()
    assert w.reward.stock == 3 and balance(w.a.leader) == 20
    spent = Entry.objects.get(source=f"redemption:{r.pk}")
    assert spent.reversed_by.points == 10
    with pytest.raises(ValidationError):
        services.redemption_cancel(actor=w.a.leader, redemption_id=r.pk)
    assert services.reconcile_points() == []


def test_fulfilling_is_for_the_offering_staff(shop):
    w = shop
    r = services.reward_redeem(actor=w.a.leader, reward_id=w.reward.pk)
    with pytest.raises(PermissionDenied):
        services.redemption_fulfil(actor=w.a.secretary, redemption_id=r.pk)  # a street's reward
    assert services.redemption_fulfil(actor=w.staff, redemption_id=r.pk).state == Redemption.State.FULFILLED
    local = services.reward_redeem(actor=w.a.leader, reward_id=w.local.pk)
    assert services.redemption_fulfil(actor=w.a.secretary, redemption_id=local.pk).decided_by == w.a.secretary


def test_rewards_are_kept_by_managers(world):
    with pytest.raises(PermissionDenied):
        services.reward_save(actor=world.a.leader, node=world.a.community, name="x", cost=1, stock=1)
    with pytest.raises(ValidationError):
        services.reward_save(actor=world.staff, node=world.a.compound, name="x", cost=1, stock=1)
    with pytest.raises(ValidationError):
        services.reward_save(actor=world.staff, node=world.street, name="x", cost=0, stock=1)
    assert not Reward.objects.exists()


# --- honours, care visits, rankings -----------------------------------------------------------


def test_rankings_by_points_for_a_period(world):
    award(world.a.leader, 3)
    award(world.b.leader, 1)
    award(world.a.secretary, 3, prefix="s")
    rows = selectors.rankings(world.street, f"{timezone.localdate():%Y-%m}")
    assert [(r["rank"], r["username"], r["value"]) for r in rows] == [
        (1, "leader_a", 15), (1, "secretary_a", 15), (3, "leader_b", 5)]
    assert [r["username"] for r in selectors.rankings(world.b.community, f"{timezone.localdate():%Y}")] == ["leader_b"]
    assert selectors.rankings(world.street, "2020-Q1") == []
    with pytest.raises(ValidationError):
        selectors.rankings(world.street, "2026-13")
    summary = selectors.account_summary(world.b.leader)
    assert summary == {"balance": 5, "month_points": 5, "rank_in_community": 1, "community": "社区B"}


def test_an_honour_once_per_title_period_and_person(world):
    h = services.honour_create(actor=world.staff, title="优秀微网格长", period="2026", person=world.a.leader,
                               node=world.street, citation="全年走访86户")
    assert (h.street, h.community) == (world.street, None)
    with pytest.raises(ValidationError):
        services.honour_create(actor=world.staff, title="优秀微网格长", period="2026", person=world.a.leader, node=world.street)
    with pytest.raises(PermissionDenied):
        services.honour_create(actor=world.b.secretary, title="优秀", period="2026", person=world.a.leader,
                               node=world.a.community)
    with pytest.raises(ValidationError):
        services.honour_create(actor=world.staff, title="优秀", period="2026-H1", person=world.a.leader, node=world.street)
    assert Honour.objects.count() == 1


def test_care_visits(world):
    v = services.carevisit_create(actor=world.a.secretary, leader=world.a.leader, date=timezone.localdate(),
                                  occasion="春节", gift="米、油")
    assert v.node == world.a.community
    with pytest.raises(PermissionDenied):
        services.carevisit_create(actor=world.b.secretary, leader=world.a.leader, date=timezone.localdate(), occasion="中秋")
    assert list(selectors.visible_carevisits(world.a.leader)) == [v]
    assert not selectors.visible_carevisits(world.b.secretary).exists()


# --- the expense fund -------------------------------------------------------------------------


@shared_fixture
def fund(world):
    today = timezone.localdate()
    world.fund = services.fund_save(actor=world.staff, node=world.street, name="网格员保障金", budget=Decimal("100.00"),
                                    starts_on=today.replace(month=1, day=1), ends_on=today.replace(month=12, day=31))
    return world


def claim(w, amount="30.00", **kw):
    return services.claim_submit(actor=w.a.leader, fund_id=w.fund.pk, kind=kw.pop("kind", "meal"), amount=amount,
                                 date=kw.pop("date", timezone.localdate()), **kw)


def test_claims_approve_and_pay_against_the_fund(fund):
    w = fund
    c = claim(w)
    assert (c.grid, c.community, c.state) == (w.a.mg1, w.a.community, ExpenseClaim.State.SUBMITTED)
    with pytest.raises(PermissionDenied):
        services.claim_approve(actor=w.a.secretary, claim_id=c.pk)  # the street keeps this fund
    services.claim_approve(actor=w.staff, claim_id=c.pk)
    services.claim_pay(actor=w.staff, claim_id=c.pk)
    w.fund.refresh_from_db()
    assert (w.fund.approved, w.fund.paid, w.fund.remaining) == (Decimal("30.00"), Decimal("30.00"), Decimal("70.00"))
    report = selectors.fund_report(w.fund)
    assert report["by_kind"] == {"meal": {"approved": Decimal("30.00"), "paid": Decimal("30.00")}}
    assert report["by_community"] == [{"community": "社区A", "approved": Decimal("30.00"), "paid": Decimal("30.00")}]


def test_a_fund_is_never_overdrawn(fund):
    w = fund
    big, small = claim(w, "80.00"), claim(w, "30.00")
    services.claim_approve(actor=w.staff, claim_id=big.pk)
    with pytest.raises(services.FundExhausted):
        services.claim_approve(actor=w.staff, claim_id=small.pk)
    small.refresh_from_db()
    w.fund.refresh_from_db()
    assert small.state == ExpenseClaim.State.SUBMITTED and w.fund.approved == Decimal("80.00")
    with pytest.raises(ValidationError):
        services.claim_reject(actor=w.staff, claim_id=small.pk, note=" ")
    assert services.claim_reject(actor=w.staff, claim_id=small.pk, note="超出额度").state == ExpenseClaim.State.REJECTED
    with pytest.raises(IntegrityError), transaction.atomic():
        Fund.objects.filter(pk=w.fund.pk).update(approved=Decimal("100.01"))


@pytest.mark.parametrize("amount", ["35.555", "0", "-3", "abc", "NaN", "100000.01"])
def test_bad_amounts_write_nothing(fund, amount):
    with pytest.raises(ValidationError) as e:
        claim(fund, amount)
    assert "amount" in e.value.message_dict
    assert not ExpenseClaim.objects.exists()


def test_claims_on_a_closed_fund_or_out_of_period(fund):
    w = fund
    with pytest.raises(ValidationError) as e:
        claim(w, date=timezone.localdate() + datetime.timedelta(days=1))
    assert "date" in e.value.message_dict
    Fund.objects.filter(pk=w.fund.pk).update(closed=True)
    with pytest.raises(ValidationError) as e:
        claim(w)
    assert "fund" in e.value.message_dict
    with pytest.raises(ValidationError) as e:  # only leaders claim, for their micro-grid
        services.claim_submit(actor=w.a.secretary, fund_id=w.fund.pk, kind="meal", amount="1", date=timezone.localdate())
    assert "grid" in e.value.message_dict
    assert not ExpenseClaim.objects.exists()


def test_claims_are_scoped(fund):
    w = fund
    c = claim(w)
    assert list(selectors.visible_claims(w.a.leader)) == [c]
    assert list(selectors.visible_claims(w.a.secretary)) == [c]
    assert not selectors.visible_claims(w.b.leader).exists()
    assert not selectors.visible_claims(w.b.secretary).exists()
    with pytest.raises(ExpenseClaim.DoesNotExist):
        services.claim_approve(actor=w.b.secretary, claim_id=c.pk)


# --- error codes, rules, append-only records --------------------------------------------------


def codes_of(error):
    return {field: [e.code for e in errors] for field, errors in error.error_dict.items()}


def test_every_refusal_carries_its_code(fund, shop):
    w = fund
    cases = [
        (lambda: services.reward_redeem(actor=w.a.leader, reward_id=w.reward.pk, quantity="x"),
         {"quantity": ["invalid_quantity"]}),
        (lambda: services.reward_redeem(actor=w.a.leader, reward_id=w.reward.pk, quantity=0),
         {"quantity": ["quantity_out_of_range"]}),
        (lambda: claim(w, "35.555"), {"amount": ["too_many_decimals"]}),
        (lambda: claim(w, "abc"), {"amount": ["invalid_amount"]}),
        (lambda: claim(w, "0"), {"amount": ["amount_out_of_range"]}),
        (lambda: claim(w, date="2026-11-20"), {"date": ["invalid_date"]}),
        (lambda: claim(w, date=timezone.localdate() + datetime.timedelta(days=1)), {"date": ["date_in_future"]}),
        (lambda: services.claim_submit(actor=w.a.leader, fund_id="abc", kind="gift", amount="1",
                                       date=timezone.localdate(), note="长" * 301),
         {"fund": ["unknown_fund"], "kind": ["invalid_choice"], "note": ["max_length"]}),
        (lambda: services.claim_submit(actor=w.a.secretary, fund_id=w.fund.pk, kind="meal", amount="1",
                                       date=timezone.localdate()), {"grid": ["not_your_microgrid"]}),
        (lambda: services.claim_reject(actor=w.staff, claim_id=claim(w).pk, note=" "), {"note": ["reason_required"]}),
        (lambda: services.honour_create(actor=w.staff, title=" ", period="2026", person=w.a.leader, node=w.street),
         {"title": ["required"]}),
        (lambda: services.honour_create(actor=w.staff, title="t", period="9999-13", person=w.a.leader, node=w.street),
         {"period": ["invalid_period"]}),
        (lambda: services.reward_save(actor=w.staff, node=w.a.compound, name="x", cost=1, stock=1),
         {"node": ["street_or_community"]}),
        (lambda: services.carevisit_create(actor=w.staff, leader=w.a.leader, occasion="春节",
                                           date=timezone.localdate() + datetime.timedelta(days=1)),
         {"date": ["date_in_future"]}),
        (lambda: selectors.rankings(w.street, "2026", "votes"), {"by": ["invalid_ranking"]}),
    ]
    for call, expected in cases:
        with pytest.raises(ValidationError) as e:
            call()
        assert codes_of(e.value) == expected, expected
    entry = award(w.a.leader, rule="errand_logged", prefix="codes")[0]
    services.entry_reverse(entry_id=entry.pk, actor=w.staff)
    with pytest.raises(ValidationError) as e:
        services.entry_reverse(entry_id=entry.pk, actor=w.staff)
    assert codes_of(e.value) == {"entry": ["already_reversed"]}


def test_denials_and_conflicts_carry_their_codes(fund, shop):
    w = fund
    denials = [
        (lambda: services.reward_save(actor=w.a.leader, node=w.a.community, name="x", cost=1, stock=1), "not_manager"),
        (lambda: services.fund_save(actor=w.b.secretary, node=w.a.community, name="x", budget=Decimal("1"),
                                    starts_on=timezone.localdate(), ends_on=timezone.localdate()), "not_manager"),
        (lambda: services.claim_approve(actor=w.a.secretary, claim_id=claim(w).pk), "not_manager"),
        (lambda: services.pointrule_save(actor=w.a.secretary, code="x", name="x", points=1), "not_street_staff"),
    ]
    for call, code in denials:
        with pytest.raises(PermissionDenied) as e:
            call()
        assert e.value.code == code
    r = services.reward_redeem(actor=w.a.leader, reward_id=w.reward.pk)
    with pytest.raises(PermissionDenied) as e:
        services.redemption_cancel(actor=w.b.leader, redemption_id=r.pk)
    assert e.value.code == "not_owner_or_manager"
    services.redemption_fulfil(actor=w.staff, redemption_id=r.pk)
    with pytest.raises(ValidationError) as e:
        services.redemption_cancel(actor=w.a.leader, redemption_id=r.pk)
    assert codes_of(e.value) == {"state": ["wrong_state"]}
    for call, conflict, code in [
        (lambda: services.reward_redeem(actor=w.a.leader, reward_id=w.reward.pk, quantity=3), services.OutOfStock,
         "stock_exhausted"),
        (lambda: services.reward_redeem(actor=w.a.leader, reward_id=w.reward.pk, quantity=2), services.NotEnoughPoints,
         "points_insufficient"),
    ]:
        with pytest.raises(conflict) as e:
            call()
        assert isinstance(e.value, common_errors.Conflict) and e.value.code == code
    big = claim(w, "80.00")
    services.claim_approve(actor=w.staff, claim_id=big.pk)
    with pytest.raises(services.FundExhausted) as e:
        services.claim_approve(actor=w.staff, claim_id=claim(w, "30.00").pk)
    assert e.value.code == "fund_exhausted"


def test_rules_are_kept_by_street_staff_and_their_code_is_fixed(world):
    rule = services.pointrule_save(actor=world.staff, code="meeting_attended", name="参加分析会", points=2,
                                   monthly_cap=8)
    assert (rule.points, rule.monthly_cap, rule.active) == (2, 8, True)
    services.pointrule_save(actor=world.staff, rule=rule, name="参加分析会", points=3, monthly_cap=None)
    rule.refresh_from_db()
    assert (rule.code, rule.points, rule.monthly_cap) == ("meeting_attended", 3, None)
    with pytest.raises(ValidationError) as e:
        services.pointrule_save(actor=world.staff, rule=rule, code="renamed")
    assert codes_of(e.value) == {"code": ["code_fixed"]}
    with pytest.raises(ValidationError):
        services.pointrule_save(actor=world.staff, code="nothing", name="无", points=0)
    assert not PointRule.objects.filter(code__in=["renamed", "nothing"]).exists()
    with pytest.raises(PermissionDenied):
        services.pointrule_save(actor=world.a.secretary, rule=rule, points=30)
    assert PointRule.objects.get(pk=rule.pk).points == 3


def test_honours_and_care_visits_are_append_only(world):
    h = services.honour_create(actor=world.staff, title="优秀微网格长", period="2026", person=world.a.leader,
                               node=world.street)
    v = services.carevisit_create(actor=world.staff, leader=world.a.leader, date=timezone.localdate(), occasion="春节")
    for row in (h, v):
        with pytest.raises(ValueError):
            row.save()
        with pytest.raises(ValueError):
            row.delete()
    assert Honour.objects.filter(pk=h.pk).exists()
