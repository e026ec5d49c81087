"""50 people at once against a small stock and a small fund, on PostgreSQL, each thread with its own
connection: the conditional updates and the CHECK constraints hold."""

from decimal import Decimal

import pytest
from django.db.models import F
from django.utils import timezone

from grid.models import Role
from incentives import services
from incentives.models import Account, ExpenseClaim, Fund, PointRule, Redemption
from tests.factories import RoleFactory, UserFactory
from tests.support import kind_of, race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CONFLICT = {services.Conflict: kind_of}


def test_fifty_redemptions_of_a_stock_of_ten(world, postgres_only):
    bonus = PointRule.objects.create(code="bonus", name="bonus", points=100)
    rich = [RoleFactory(node=world.a.community, role=Role.GROUP_LEADER, user=UserFactory(username=f"rich{i}")).user
            for i in range(40)]
    poor = RoleFactory(node=world.a.community, role=Role.GROUP_LEADER, user=UserFactory(username="poor")).user
    for u in rich:
        services.points_award(user=u, rule=bonus, source=f"bonus:{u.pk}")
    # Points for two rewards only.
    services.points_award(user=poor, rule=PointRule.objects.create(code="twenty", name="twenty", points=20),
                          source="twenty:poor")
    poor_account = Account.objects.get(user=poor)

    reward = services.reward_save(actor=world.staff, node=world.street, name="保温杯", cost=10, stock=10, active=True)
    calls = [lambda u=u: services.reward_redeem(actor=u, reward_id=reward.pk) for u in rich]
    calls += [lambda: services.reward_redeem(actor=poor, reward_id=reward.pk) for _ in range(10)]
    outcomes = race(calls, CONFLICT)

    assert not [o for o in outcomes if o.startswith("error")], outcomes
    assert outcomes.count("ok") == 10
    reward.refresh_from_db()
    assert reward.stock == 0
    assert Redemption.objects.count() == 10
    assert Redemption.objects.filter(account=poor_account).count() <= 2
    assert not Account.objects.filter(balance__lt=0).exists()
    assert Account.objects.get(pk=poor_account.pk).balance >= 0
    assert services.reconcile_points() == []


def test_fifty_approvals_against_a_fund_for_ten(world, postgres_only):
    today = timezone.localdate()
    fund = services.fund_save(actor=world.staff, node=world.street, name="保障金", budget=Decimal("100.00"),
                              starts_on=today.replace(day=1), ends_on=today.replace(month=12, day=31))
    claims = [services.claim_submit(actor=world.a.leader, fund_id=fund.pk, kind="duty", amount="10.00", date=today)
              for _ in range(50)]
    outcomes = race([lambda c=c: services.claim_approve(actor=world.staff, claim_id=c.pk) for c in claims], CONFLICT)

    assert not [o for o in outcomes if o.startswith("error")], outcomes
    assert outcomes.count("ok") == 10 and outcomes.count("FundExhausted") == 40
    fund.refresh_from_db()
    assert fund.approved == Decimal("100.00") and fund.remaining == 0
    assert ExpenseClaim.objects.filter(state=ExpenseClaim.State.APPROVED).count() == 10
    assert not Fund.objects.filter(approved__gt=F("budget")).exists()
