"""The demo's incentives on the small `world` street after a generated year of patrols: the points are
what the handlers would have awarded (a replay adds nothing), the books reconcile, and the catalogue,
fund, honours and visits are there."""

import datetime

from django.db.models import Sum
from django.utils import timezone

from grid.models import RoleAssignment
from incentives import demo, handlers, services
from incentives.models import Account, CareVisit, Entry, ExpenseClaim, Fund, PointRule, Reward
from patrols import demo as patrol_demo
from tests.support import shared_fixture


@shared_fixture
def year(ledger):
    RoleAssignment.objects.update(start=timezone.localdate() - datetime.timedelta(days=400))
    patrol_demo.build_patrols(street=ledger.street, problem_rate=0.5)
    demo.build_incentives(street=ledger.street)
    return ledger


def test_points_are_the_handlers_own_and_reconcile(year):
    entries = Entry.objects.filter(rule__isnull=False)
    assert entries.filter(rule__code="patrol_attended").exists()
    assert entries.filter(rule__code__in=["mediation_logged", "errand_logged", "hazard_logged"]).exists()
    assert services.reconcile_points() == []
    before = list(Entry.objects.order_by("id").values_list("source", "points"))
    handlers.replay()
    assert list(Entry.objects.order_by("id").values_list("source", "points")) == before


def test_caps_hold_month_by_month(year):
    for rule in PointRule.objects.exclude(monthly_cap=None):
        per_month = {}
        for account, points, when in Entry.objects.filter(rule=rule).values_list("account_id", "points", "created_at"):
            key = (account, timezone.localtime(when).strftime("%Y-%m"))
            per_month[key] = per_month.get(key, 0) + points
        assert all(total <= rule.monthly_cap for total in per_month.values()), rule.code


def test_catalogue_fund_and_care(year):
    w = year
    assert Reward.objects.filter(node=w.street, active=True).count() == len(demo.REWARDS)
    fund = Fund.objects.get(node=w.street)
    assert fund.budget == 350000
    approved = ExpenseClaim.objects.filter(fund=fund, state__in=["approved", "paid"]).aggregate(s=Sum("amount"))["s"] or 0
    paid = ExpenseClaim.objects.filter(fund=fund, state="paid").aggregate(s=Sum("amount"))["s"] or 0
    assert (fund.approved, fund.paid) == (approved, paid)
    assert CareVisit.objects.filter(street=w.street).exists()
    assert not Account.objects.filter(balance__lt=0).exists()
