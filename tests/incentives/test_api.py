"""The incentives REST API: my points, the ledger, rules, rewards and redeeming, redemptions,
rankings, funds and their report, expense claims; bad input writing nothing, 409 when stock, points
or the fund run out, scope on every endpoint, query budgets on every list, and the OpenAPI schema."""

import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from grid.models import Kind, Level, Post, Role
from incentives import services
from incentives.models import Account, Entry, ExpenseClaim, Fund, PointRule, Redemption, Reward
from patrols import services as patrol_services
from tests.factories import RoleFactory, UserFactory, node
from tests.support import (
    api_schema,
    balance,
    client_for,
    error_codes,
    field_errors,
    fresh,
    ids,
    image,
    results,
    shared_fixture,
)

pytestmark = pytest.mark.django_db

BASE = "/api/v1/incentives/"
ME = f"{BASE}accounts/me/"
ENTRIES = f"{BASE}entries/"
RULES = f"{BASE}rules/"
REWARDS = f"{BASE}rewards/"
REDEMPTIONS = f"{BASE}redemptions/"
RANKINGS = f"{BASE}rankings/"
FUNDS = f"{BASE}funds/"
CLAIMS = f"{BASE}claims/"

ENTRY_FIELDS = {"id", "account", "user", "points", "rule", "source", "reverses", "actor", "note", "created_at"}
REWARD_FIELDS = {"id", "name", "description", "cost", "stock", "active", "node", "node_name"}
REDEMPTION_FIELDS = {"id", "account", "user", "reward", "reward_name", "quantity", "points", "state", "created_at",
                     "decided_at", "decided_by"}
FUND_FIELDS = {"id", "name", "node", "node_name", "budget", "approved", "paid", "remaining", "starts_on", "ends_on",
               "closed"}
CLAIM_FIELDS = {"id", "fund", "fund_name", "leader", "leader_name", "grid", "grid_name", "kind", "amount", "date",
                "note", "receipt", "state", "submitted_at", "decided_at", "decided_by", "decision_note", "paid_at"}


def today():
    return timezone.localdate()


def award(user, n=1, rule="patrol_attended", prefix="t", when=None):
    return [services.points_award(user=user, rule=rule, source=f"{prefix}:{user.pk}:{rule}:{i}", when=when)
            for i in range(n)]


@shared_fixture
def shop(world):
    """Rewards of the street and of each community, one street reward withdrawn; leader_a holds 30
    points, leader_b 10."""
    w = world
    w.towel = services.reward_save(actor=w.staff, node=w.street, name="毛巾", cost=10, stock=5, active=True)
    w.old = services.reward_save(actor=w.staff, node=w.street, name="旧奖品", cost=1, stock=9, active=False)
    w.rice_a = services.reward_save(actor=w.a.secretary, node=w.a.community, name="大米A", cost=20, stock=1, active=True)
    w.oil_a = services.reward_save(actor=w.a.secretary, node=w.a.community, name="油A", cost=5, stock=3, active=False)
    w.rice_b = services.reward_save(actor=w.b.secretary, node=w.b.community, name="大米B", cost=20, stock=4, active=True)
    award(w.a.leader, 4)  # 20, the rule's monthly cap
    award(w.a.leader, 5, rule="errand_logged")  # 10
    award(w.b.leader, 2)
    return w


def shop_state(w):
    """What must not move when a request is refused."""
    return (Redemption.objects.count(), Entry.objects.count(), balance(w.a.leader), balance(w.b.leader),
            tuple(Reward.objects.order_by("pk").values_list("stock", flat=True)))


# --- my points --------------------------------------------------------------------------------


class TestMe:
    def test_balance_month_points_and_rank(self, shop):
        w = shop
        award(w.a.secretary, 1)
        award(w.a.leader, 1, rule="mediation_logged", when=timezone.now() - datetime.timedelta(days=70))  # an old +3
        data = client_for(w.a.leader).get(ME).json()
        assert data == {"account": Account.objects.get(user=w.a.leader).pk, "balance": 33, "month_points": 30,
                        "rank_in_community": 1, "community": w.a.community.name}
        assert client_for(w.a.secretary).get(ME).json()["rank_in_community"] == 2

    def test_spending_lowers_the_balance_not_the_month_points(self, shop):
        w = shop
        services.reward_redeem(actor=w.a.leader, reward_id=w.towel.pk, quantity=1)
        data = client_for(w.a.leader).get(ME).json()
        assert (data["balance"], data["month_points"]) == (20, 30)

    def test_before_any_points(self, world):
        data = client_for(world.b.secretary).get(ME).json()
        assert data == {"account": None, "balance": 0, "month_points": 0, "rank_in_community": None,
                        "community": world.b.community.name}

    def test_anonymous(self, world):
        assert APIClient().get(ME).status_code == 401


# --- the ledger -------------------------------------------------------------------------------


class TestEntries:
    def test_shape(self, shop):
        w = shop
        entry = Entry.objects.filter(account__user=w.a.leader, rule__code="errand_logged").first()
        items = {e["id"]: e for e in results(client_for(w.a.leader).get(ENTRIES))}
        e = items[entry.pk]
        assert set(e) == ENTRY_FIELDS
        assert (e["account"], e["user"], e["points"], e["rule"], e["source"], e["reverses"], e["actor"]) == (
            entry.account_id, "leader_a", 2, "errand_logged", entry.source, None, None)
        reversal = services.entry_reverse(entry_id=entry.pk, actor=w.staff, note="录错了")
        r = client_for(w.a.leader).get(f"{ENTRIES}{reversal.pk}/").json()
        assert (r["points"], r["reverses"], r["actor"], r["note"]) == (-2, entry.pk, "staff", "录错了")

    def test_scope(self, shop):
        w = shop
        mine_a = set(Entry.objects.filter(account__user=w.a.leader).values_list("pk", flat=True))
        mine_b = set(Entry.objects.filter(account__user=w.b.leader).values_list("pk", flat=True))
        assert len(mine_a) == 9 and len(mine_b) == 2
        assert ids(client_for(w.a.leader).get(ENTRIES, {"page_size": 100})) == mine_a
        assert ids(client_for(w.b.leader).get(ENTRIES, {"page_size": 100})) == mine_b
        assert ids(client_for(w.a.secretary).get(ENTRIES, {"page_size": 100})) == mine_a
        assert ids(client_for(w.staff).get(ENTRIES, {"page_size": 100})) == mine_a | mine_b
        one = min(mine_a)
        assert client_for(w.b.leader).get(f"{ENTRIES}{one}/").status_code == 404
        assert client_for(w.b.secretary).get(f"{ENTRIES}{one}/").status_code == 404
        assert client_for(w.a.secretary).get(f"{ENTRIES}{one}/").status_code == 200
        assert APIClient().get(ENTRIES).status_code == 401

    def test_filters(self, shop):
        w = shop
        old = award(w.a.leader, 1, rule="mediation_logged", when=timezone.now() - datetime.timedelta(days=70))[0]
        c = client_for(w.staff)
        account_a = Account.objects.get(user=w.a.leader).pk
        assert ids(c.get(ENTRIES, {"rule": "mediation_logged"})) == {old.pk}
        assert len(results(c.get(ENTRIES, {"rule": "errand_logged", "account": account_a}))) == 5
        account_b = Account.objects.get(user=w.b.leader).pk
        assert results(c.get(ENTRIES, {"rule": "errand_logged", "account": account_b})) == []
        since = (timezone.localdate() - datetime.timedelta(days=30)).isoformat()
        recent = ids(c.get(ENTRIES, {"since": since, "account": account_a, "page_size": 100}))
        assert len(recent) == 9 and old.pk not in recent
        assert old.pk in ids(c.get(ENTRIES, {"until": since, "account": account_a}))
        assert results(c.get(ENTRIES, {"rule": "no_such_rule"})) == []
        for bad in ({"account": "x"}, {"since": "yesterday"}):
            r = c.get(ENTRIES, bad)
            assert r.status_code == 400 and set(bad) <= set(r.json()), r.content

    def test_account_of_another_community_filters_to_nothing(self, shop):
        w = shop
        account_b = Account.objects.get(user=w.b.leader).pk
        assert results(client_for(w.a.secretary).get(ENTRIES, {"account": account_b})) == []

    def test_budget(self, world, django_assert_max_num_queries):
        w = world
        PointRule.objects.update(monthly_cap=None)
        award(w.a.leader, 2, rule="errand_logged")
        c = client_for(fresh(w.a.secretary))
        with django_assert_max_num_queries(3) as few:
            assert len(results(c.get(ENTRIES))) == 2
        award(w.a.leader, 18, rule="errand_logged", prefix="more")
        services.entry_reverse(entry_id=Entry.objects.first().pk, actor=w.staff)
        c = client_for(fresh(w.a.secretary))
        with django_assert_max_num_queries(3) as many:
            assert len(results(c.get(ENTRIES))) == 21
        assert len(few.captured_queries) == len(many.captured_queries)


class TestRules:
    def test_list_and_detail(self, world):
        c = client_for(world.a.leader)
        listed = {r["code"]: r for r in results(c.get(RULES))}
        assert {"patrol_attended", "closed_satisfied", "red_card", "reopened", "duplicate_own_report"} <= set(listed)
        rule = PointRule.objects.get(code="patrol_attended")
        assert listed["patrol_attended"] == {"id": rule.pk, "code": "patrol_attended", "name": rule.name, "points": 5,
                                             "monthly_cap": 20, "active": True}
        assert listed["red_card"]["points"] == -5
        assert c.get(f"{RULES}{rule.pk}/").json()["code"] == "patrol_attended"
        assert c.get(f"{RULES}999999/").status_code == 404

    def test_read_only(self, world):
        rule = PointRule.objects.get(code="patrol_attended")
        c = client_for(world.staff)
        assert c.post(RULES, {"code": "x", "name": "x", "points": 1}, format="json").status_code == 405
        assert c.patch(f"{RULES}{rule.pk}/", {"points": 50}, format="json").status_code == 405
        assert PointRule.objects.get(pk=rule.pk).points == 5

    def test_budget(self, world, django_assert_max_num_queries):
        PointRule.objects.exclude(code__in=["patrol_attended", "red_card"]).delete()
        c = client_for(world.a.leader)
        with django_assert_max_num_queries(2) as few:
            assert len(results(c.get(RULES))) == 2
        PointRule.objects.bulk_create(PointRule(code=f"r{i}", name=f"规则{i}", points=i + 1) for i in range(18))
        with django_assert_max_num_queries(2) as many:
            assert len(results(c.get(RULES))) == 20
        assert len(few.captured_queries) == len(many.captured_queries)


# --- rewards and redeeming --------------------------------------------------------------------


def redeem(user, reward_id, quantity=1, fmt="json"):
    return client_for(user).post(f"{REWARDS}{reward_id}/redeem/", {"quantity": quantity}, format=fmt)


class TestRewards:
    def test_shape(self, shop):
        w = shop
        items = {r["id"]: r for r in results(client_for(w.a.leader).get(REWARDS))}
        assert items[w.towel.pk] == {"id": w.towel.pk, "name": "毛巾", "description": "", "cost": 10, "stock": 5,
                                     "active": True, "node": w.street.pk, "node_name": w.street.name}
        assert set(items[w.rice_a.pk]) == REWARD_FIELDS

    def test_scope_and_inactive_only_for_managers(self, shop):
        w = shop
        assert ids(client_for(w.a.leader).get(REWARDS)) == {w.towel.pk, w.rice_a.pk}
        assert ids(client_for(w.b.leader).get(REWARDS)) == {w.towel.pk, w.rice_b.pk}
        # The secretary manages community A (its withdrawn reward too), not the street.
        assert ids(client_for(w.a.secretary).get(REWARDS)) == {w.towel.pk, w.rice_a.pk, w.oil_a.pk}
        assert ids(client_for(w.staff).get(REWARDS)) == {w.towel.pk, w.old.pk, w.rice_a.pk, w.oil_a.pk, w.rice_b.pk}
        assert client_for(w.b.leader).get(f"{REWARDS}{w.rice_a.pk}/").status_code == 404
        assert client_for(w.a.leader).get(f"{REWARDS}{w.oil_a.pk}/").status_code == 404
        assert client_for(w.a.leader).get(f"{REWARDS}{w.old.pk}/").status_code == 404
        assert client_for(w.a.secretary).get(f"{REWARDS}{w.oil_a.pk}/").status_code == 200
        assert APIClient().get(REWARDS).status_code == 401

    def test_filters(self, shop):
        w = shop
        c = client_for(w.staff)
        assert ids(c.get(REWARDS, {"active": "false"})) == {w.old.pk, w.oil_a.pk}
        assert ids(c.get(REWARDS, {"node": w.a.community.pk})) == {w.rice_a.pk, w.oil_a.pk}
        assert c.get(REWARDS, {"node": "x"}).status_code == 400

    def test_redeem(self, shop):
        w = shop
        r = redeem(w.a.leader, w.towel.pk, 2)
        assert r.status_code == 201, r.content
        data = r.json()
        red = Redemption.objects.get()
        assert set(data) == REDEMPTION_FIELDS
        assert (data["id"], data["state"], data["quantity"], data["points"], data["reward"], data["user"]) == (
            red.pk, "requested", 2, 20, w.towel.pk, "leader_a")
        assert data["decided_at"] is None and data["decided_by"] is None
        assert balance(w.a.leader) == 10 and Reward.objects.get(pk=w.towel.pk).stock == 3
        spent = Entry.objects.get(source=f"redemption:{red.pk}")
        assert spent.points == -20 and spent.rule is None

    def test_redeem_multipart_and_default_quantity(self, shop):
        w = shop
        r = client_for(w.a.leader).post(f"{REWARDS}{w.towel.pk}/redeem/", {"quantity": "1"}, format="multipart")
        assert r.status_code == 201 and r.json()["quantity"] == 1
        r = client_for(w.a.leader).post(f"{REWARDS}{w.towel.pk}/redeem/", {}, format="json")
        assert r.status_code == 201 and r.json()["quantity"] == 1
        assert balance(w.a.leader) == 10

    @pytest.mark.parametrize("quantity", [-1, 0, "abc", 1.5, "", 101, True, None])
    def test_bad_quantity_writes_nothing(self, shop, quantity):
        w = shop
        before = shop_state(w)
        r = redeem(w.a.leader, w.towel.pk, quantity)
        assert r.status_code == 400, r.content
        assert list(field_errors(r)) == ["quantity"] and r.json()["quantity"]
        assert shop_state(w) == before

    def test_unknown_reward_writes_nothing(self, shop):
        w = shop
        before = shop_state(w)
        for reward_id in (999999, w.rice_b.pk, w.old.pk):  # unknown, another community's, withdrawn
            assert redeem(w.a.leader, reward_id).status_code == 404
        # Even with a bad quantity: a reward not found says nothing about the body.
        assert redeem(w.a.leader, 999999, -3).status_code == 404
        assert client_for(w.a.leader).post(f"{REWARDS}abc/redeem/", {"quantity": 1}, format="json").status_code == 404
        assert shop_state(w) == before

    def test_a_manager_may_see_a_reward_not_offered_to_them_but_not_redeem_it(self, shop):
        w = shop
        award(w.staff, 4)
        before = shop_state(w)
        assert client_for(w.staff).get(f"{REWARDS}{w.rice_a.pk}/").status_code == 200
        assert redeem(w.staff, w.rice_a.pk).status_code == 404
        assert shop_state(w) == before

    def test_out_of_stock_answers_409_and_writes_nothing(self, shop):
        w = shop
        assert redeem(w.a.leader, w.rice_a.pk).status_code == 201  # the only one
        before = shop_state(w)
        r = redeem(w.a.leader, w.rice_a.pk)
        assert r.status_code == 409 and r.json()["detail"]
        r = redeem(w.a.leader, w.towel.pk, 6)  # 5 left
        assert r.status_code == 409 and r.json()["detail"]
        assert shop_state(w) == before

    def test_not_enough_points_answers_409_and_writes_nothing(self, shop):
        w = shop
        before = shop_state(w)
        r = redeem(w.b.leader, w.towel.pk, 2)  # 20 points, 10 held
        assert r.status_code == 409 and r.json()["detail"]
        assert shop_state(w) == before
        assert redeem(w.b.leader, w.towel.pk, 1).status_code == 201
        assert balance(w.b.leader) == 0
        r = redeem(w.b.leader, w.towel.pk, 1)
        assert r.status_code == 409
        assert Reward.objects.get(pk=w.towel.pk).stock == 4

    def test_anonymous(self, shop):
        before = shop_state(shop)
        assert APIClient().post(f"{REWARDS}{shop.towel.pk}/redeem/", {"quantity": 1}, format="json").status_code == 401
        assert shop_state(shop) == before

    def test_budget(self, world, django_assert_max_num_queries):
        w = world
        for i in range(2):
            services.reward_save(actor=w.staff, node=w.street, name=f"奖品{i}", cost=5, stock=1, active=True)
        c = client_for(fresh(w.a.secretary))
        with django_assert_max_num_queries(5) as few:
            assert len(results(c.get(REWARDS))) == 2
        for i in range(9):
            services.reward_save(actor=w.staff, node=w.street, name=f"街道{i}", cost=5, stock=1, active=True)
            services.reward_save(actor=w.a.secretary, node=w.a.community, name=f"社区{i}", cost=5, stock=1,
                                 active=i % 2 == 0)
        c = client_for(fresh(w.a.secretary))
        with django_assert_max_num_queries(5) as many:
            assert len(results(c.get(REWARDS))) == 20
        assert len(few.captured_queries) == len(many.captured_queries)


# --- redemptions ------------------------------------------------------------------------------


@shared_fixture
def orders(shop):
    w = shop
    w.red_a = services.reward_redeem(actor=w.a.leader, reward_id=w.rice_a.pk, quantity=1)
    w.red_street = services.reward_redeem(actor=w.a.leader, reward_id=w.towel.pk, quantity=1)
    w.red_b = services.reward_redeem(actor=w.b.leader, reward_id=w.towel.pk, quantity=1)
    return w


def fulfil(user, pk):
    return client_for(user).post(f"{REDEMPTIONS}{pk}/fulfil/")


def cancel(user, pk):
    return client_for(user).post(f"{REDEMPTIONS}{pk}/cancel/")


class TestRedemptions:
    def test_list_detail_and_filter(self, orders):
        w = orders
        mine = results(client_for(w.a.leader).get(REDEMPTIONS))
        assert {r["id"] for r in mine} == {w.red_a.pk, w.red_street.pk}
        assert all(set(r) == REDEMPTION_FIELDS for r in mine)
        services.redemption_fulfil(actor=w.staff, redemption_id=w.red_street.pk)
        c = client_for(w.staff)
        assert ids(c.get(REDEMPTIONS, {"state": "fulfilled"})) == {w.red_street.pk}
        assert ids(c.get(REDEMPTIONS, {"state": "requested"})) == {w.red_a.pk, w.red_b.pk}
        assert ids(c.get(REDEMPTIONS, {"reward": w.towel.pk})) == {w.red_street.pk, w.red_b.pk}
        assert c.get(REDEMPTIONS, {"state": "lost"}).status_code == 400
        d = c.get(f"{REDEMPTIONS}{w.red_street.pk}/").json()
        assert (d["state"], d["decided_by"], d["reward_name"]) == ("fulfilled", "staff", "毛巾")

    def test_scope(self, orders):
        w = orders
        assert ids(client_for(w.b.leader).get(REDEMPTIONS)) == {w.red_b.pk}
        assert client_for(w.b.leader).get(f"{REDEMPTIONS}{w.red_a.pk}/").status_code == 404
        # The secretary keeps the redemptions of her community's rewards, not the street's.
        assert ids(client_for(w.a.secretary).get(REDEMPTIONS)) == {w.red_a.pk}
        assert ids(client_for(w.b.secretary).get(REDEMPTIONS)) == set()
        assert client_for(w.b.secretary).get(f"{REDEMPTIONS}{w.red_a.pk}/").status_code == 404
        assert ids(client_for(w.staff).get(REDEMPTIONS)) == {w.red_a.pk, w.red_street.pk, w.red_b.pk}
        assert APIClient().get(REDEMPTIONS).status_code == 401
        assert APIClient().get(f"{REDEMPTIONS}{w.red_a.pk}/").status_code == 401

    def test_fulfil(self, orders):
        w = orders
        r = fulfil(w.a.secretary, w.red_a.pk)
        assert r.status_code == 200, r.content
        assert (r.json()["state"], r.json()["decided_by"]) == ("fulfilled", "secretary_a")
        assert Redemption.objects.get(pk=w.red_a.pk).state == "fulfilled"
        r = fulfil(w.staff, w.red_street.pk)
        assert r.status_code == 200 and r.json()["state"] == "fulfilled"

    def test_fulfil_refused(self, orders):
        w = orders
        before = shop_state(w)
        # Another community's secretary does not even see it.
        assert fulfil(w.b.secretary, w.red_a.pk).status_code == 404
        # The person sees their own redemption but does not hand it over to themselves.
        r = fulfil(w.a.leader, w.red_a.pk)
        assert r.status_code == 403 and r.json()["detail"]
        # The secretary sees no street reward's redemption.
        assert fulfil(w.a.secretary, w.red_street.pk).status_code == 404
        assert fulfil(w.staff, 999999).status_code == 404
        assert APIClient().post(f"{REDEMPTIONS}{w.red_a.pk}/fulfil/").status_code == 401
        assert shop_state(w) == before
        assert set(Redemption.objects.values_list("state", flat=True)) == {"requested"}

    def test_fulfil_twice_is_a_400(self, orders):
        w = orders
        assert fulfil(w.staff, w.red_a.pk).status_code == 200
        r = fulfil(w.staff, w.red_a.pk)
        assert r.status_code == 400 and "state" in r.json()

    def test_cancel_refunds_points_and_stock(self, orders):
        w = orders
        points, stock = balance(w.a.leader), Reward.objects.get(pk=w.rice_a.pk).stock
        r = cancel(w.a.leader, w.red_a.pk)
        assert r.status_code == 200 and r.json()["state"] == "cancelled"
        assert balance(w.a.leader) == points + 20
        assert Reward.objects.get(pk=w.rice_a.pk).stock == stock + 1
        r = cancel(w.a.leader, w.red_a.pk)
        assert r.status_code == 400 and "state" in r.json()
        assert fulfil(w.staff, w.red_a.pk).status_code == 400

    def test_cancel_refused(self, orders):
        w = orders
        before = shop_state(w)
        assert cancel(w.b.leader, w.red_a.pk).status_code == 404
        assert cancel(w.b.secretary, w.red_a.pk).status_code == 404
        assert fulfil(w.staff, w.red_street.pk).status_code == 200
        r = cancel(w.a.leader, w.red_street.pk)
        assert r.status_code == 400 and "state" in r.json()
        assert shop_state(w) == before

    def test_budget(self, shop, django_assert_max_num_queries):
        w = shop
        PointRule.objects.update(monthly_cap=None)
        award(w.a.leader, 20, rule="errand_logged", prefix="rich")  # +40, 70 in all
        Reward.objects.filter(pk=w.towel.pk).update(stock=50, cost=1)
        for _ in range(2):
            services.reward_redeem(actor=w.a.leader, reward_id=w.towel.pk)
        c = client_for(fresh(w.staff))
        with django_assert_max_num_queries(3) as few:
            assert len(results(c.get(REDEMPTIONS))) == 2
        for i in range(18):
            red = services.reward_redeem(actor=w.a.leader, reward_id=w.towel.pk)
            if i % 3 == 0:
                services.redemption_fulfil(actor=w.staff, redemption_id=red.pk)
        c = client_for(fresh(w.staff))
        with django_assert_max_num_queries(3) as many:
            assert len(results(c.get(REDEMPTIONS))) == 20
        assert len(few.captured_queries) == len(many.captured_queries)


# --- rankings ---------------------------------------------------------------------------------


def ranking(user, **params):
    return client_for(user).get(RANKINGS, params)


class TestRankings:
    def test_by_points(self, shop):
        w = shop
        award(w.a.secretary, 1)
        month = f"{today():%Y-%m}"
        r = ranking(w.a.secretary, node=w.a.community.pk, period=month)
        assert r.status_code == 200, r.content
        data = r.json()
        assert (data["node"], data["node_name"], data["period"], data["by"]) == (
            w.a.community.pk, w.a.community.name, month, "points")
        assert data["since"] == today().replace(day=1).isoformat()
        assert [(x["rank"], x["username"], x["value"]) for x in data["results"]] == [
            (1, "leader_a", 30), (2, "secretary_a", 5)]
        assert set(data["results"][0]) == {"rank", "user", "username", "name", "value"}
        # The street: everyone in both communities.
        street = ranking(w.staff, node=w.street.pk, period=month).json()["results"]
        assert [x["username"] for x in street] == ["leader_a", "leader_b", "secretary_a"]

    def test_quarter_year_and_defaults(self, shop):
        w = shop
        quarter = f"{today().year}-Q{(today().month - 1) // 3 + 1}"
        for period in (quarter, str(today().year)):
            rows = ranking(w.a.secretary, node=w.a.community.pk, period=period).json()["results"]
            assert [(x["username"], x["value"]) for x in rows] == [("leader_a", 30)]
        assert ranking(w.a.secretary, node=w.a.community.pk, period="2001").json()["results"] == []
        # No node: the user's own community; no period: this month.
        data = ranking(w.a.leader).json()
        assert data["node"] == w.a.community.pk and data["period"] == f"{today():%Y-%m}"
        assert [x["username"] for x in data["results"]] == ["leader_a"]

    def test_by_worklogs_and_satisfied(self, shop):
        w = shop
        patrol_services.worklog_create(actor=w.a.leader, kind="errand", grid=w.a.mg1, note="帮买药")
        patrol_services.worklog_create(actor=w.a.leader, kind="home_visit", grid=w.a.mg1, note="走访")
        rows = ranking(w.a.secretary, node=w.a.community.pk, by="worklogs").json()["results"]
        assert [(x["username"], x["value"]) for x in rows] == [("leader_a", 2)]
        r = ranking(w.a.secretary, node=w.a.community.pk, by="satisfied")
        assert r.status_code == 200 and r.json()["results"] == []

    def test_a_leader_ranks_his_own_community_only(self, shop):
        w = shop
        assert ranking(w.a.leader, node=w.a.community.pk).status_code == 200
        assert ranking(w.a.leader, node=w.b.community.pk).status_code == 404
        assert ranking(w.a.leader, node=w.street.pk).status_code == 404
        assert ranking(w.b.secretary, node=w.a.community.pk).status_code == 404
        assert ranking(w.a.secretary, node=w.street.pk).status_code == 404
        assert ranking(w.a.leader, node=999999).status_code == 404
        assert APIClient().get(RANKINGS, {"node": w.a.community.pk}).status_code == 401

    @pytest.mark.parametrize("params, field", [
        ({"period": "2026-13"}, "period"), ({"period": "abc"}, "period"), ({"period": "2026-Q5"}, "period"),
        ({"by": "votes"}, "by"), ({"node": "x"}, "node"),
    ])
    def test_bad_query(self, shop, params, field):
        r = ranking(shop.a.secretary, **{"node": shop.a.community.pk, **params})
        assert r.status_code == 400 and list(field_errors(r)) == [field], r.content

    def test_only_streets_and_communities(self, shop):
        r = ranking(shop.a.secretary, node=shop.a.mg1.pk)
        assert r.status_code == 400 and "node" in r.json()

    def test_budget(self, world, django_assert_max_num_queries):
        w = world
        award(w.a.leader, 1)
        award(w.a.secretary, 1)
        c = client_for(fresh(w.a.secretary))
        with django_assert_max_num_queries(6) as few:
            assert len(results(c.get(RANKINGS, {"node": w.a.community.pk}))) == 2
        for i in range(18):
            grid = node(w.a.compound, level=Level.MICROGRID, kind=Kind.SETTLEMENT, name=f"网格{i}")
            leader = RoleFactory(node=grid, role=Role.LEADER, post=Post.A, user=UserFactory(username=f"more_{i}")).user
            award(leader, 1 + i % 3, rule="errand_logged")
        c = client_for(fresh(w.a.secretary))
        with django_assert_max_num_queries(6) as many:
            assert len(results(c.get(RANKINGS, {"node": w.a.community.pk}))) == 20
        assert len(few.captured_queries) == len(many.captured_queries)


# --- funds and claims -------------------------------------------------------------------------


def year_bounds():
    return datetime.date(today().year, 1, 1), datetime.date(today().year, 12, 31)


@shared_fixture
def funds(world):
    w = world
    first, last = year_bounds()
    w.fund = services.fund_save(actor=w.staff, node=w.street, name="误餐出行执勤经费", budget=Decimal("350000"),
                                starts_on=first, ends_on=last)
    w.fund_a = services.fund_save(actor=w.a.secretary, node=w.a.community, name="社区A经费", budget=Decimal("50"),
                                  starts_on=first, ends_on=last)
    w.fund_b = services.fund_save(actor=w.b.secretary, node=w.b.community, name="社区B经费", budget=Decimal("500"),
                                  starts_on=first, ends_on=last)
    w.closed = services.fund_save(actor=w.staff, node=w.street, name="去年经费", budget=Decimal("1000"),
                                  starts_on=first, ends_on=last, closed=True)
    return w


def claim(w, leader, fund=None, amount="30.00", kind="meal"):
    return services.claim_submit(actor=leader, fund_id=(fund or w.fund).pk, kind=kind, amount=amount, date=today(),
                                 note="执勤误餐")


def fund_state():
    return (ExpenseClaim.objects.count(), tuple(Fund.objects.order_by("pk").values_list("approved", "paid")),
            tuple(ExpenseClaim.objects.order_by("pk").values_list("state", flat=True)))


class TestFunds:
    def test_list_and_detail(self, funds):
        w = funds
        items = {f["id"]: f for f in results(client_for(w.a.leader).get(FUNDS))}
        assert set(items) == {w.fund.pk, w.fund_a.pk, w.closed.pk}
        f = items[w.fund.pk]
        assert set(f) == FUND_FIELDS
        first, last = year_bounds()
        assert (f["budget"], f["approved"], f["paid"], f["remaining"]) == ("350000.00", "0.00", "0.00", "350000.00")
        assert (f["node"], f["starts_on"], f["ends_on"], f["closed"]) == (w.street.pk, first.isoformat(),
                                                                          last.isoformat(), False)
        assert ids(client_for(w.staff).get(FUNDS, {"closed": "true"})) == {w.closed.pk}

    def test_scope(self, funds):
        w = funds
        assert ids(client_for(w.b.leader).get(FUNDS)) == {w.fund.pk, w.fund_b.pk, w.closed.pk}
        assert ids(client_for(w.staff).get(FUNDS)) == {w.fund.pk, w.fund_a.pk, w.fund_b.pk, w.closed.pk}
        assert client_for(w.b.leader).get(f"{FUNDS}{w.fund_a.pk}/").status_code == 404
        assert client_for(w.b.secretary).get(f"{FUNDS}{w.fund_a.pk}/report/").status_code == 404
        assert client_for(w.a.leader).get(f"{FUNDS}{w.fund_a.pk}/report/").status_code == 200
        assert APIClient().get(FUNDS).status_code == 401
        assert APIClient().get(f"{FUNDS}{w.fund.pk}/report/").status_code == 401

    def test_report(self, funds):
        w = funds
        meal = claim(w, w.a.leader, amount="35.5")
        travel = claim(w, w.b.leader, amount="12.25", kind="travel")
        claim(w, w.b.leader, amount="99.99", kind="duty")  # waiting
        services.claim_approve(actor=w.staff, claim_id=meal.pk)
        services.claim_approve(actor=w.staff, claim_id=travel.pk)
        services.claim_pay(actor=w.staff, claim_id=meal.pk)
        r = client_for(w.staff).get(f"{FUNDS}{w.fund.pk}/report/")
        assert r.status_code == 200, r.content
        data = r.json()
        assert (data["fund"], data["name"]) == (w.fund.pk, w.fund.name)
        assert (data["budget"], data["approved"], data["paid"], data["remaining"], data["submitted"]) == (
            "350000.00", "47.75", "35.50", "349952.25", "99.99")
        assert data["by_kind"] == {"meal": {"approved": "35.50", "paid": "35.50"},
                                   "travel": {"approved": "12.25", "paid": "0.00"},
                                   "duty": {"approved": "0.00", "paid": "0.00"},
                                   "other": {"approved": "0.00", "paid": "0.00"}}
        assert sorted(data["by_community"], key=lambda c: c["community"]) == [
            {"community": w.a.community.name, "approved": "35.50", "paid": "35.50"},
            {"community": w.b.community.name, "approved": "12.25", "paid": "0.00"},
        ]
        f = client_for(w.staff).get(f"{FUNDS}{w.fund.pk}/").json()
        assert (f["approved"], f["paid"], f["remaining"]) == ("47.75", "35.50", "349952.25")

    def test_budget(self, world, django_assert_max_num_queries):
        w = world
        first, last = year_bounds()
        for i in range(2):
            services.fund_save(actor=w.staff, node=w.street, name=f"经费{i}", budget=Decimal("100"), starts_on=first,
                               ends_on=last)
        c = client_for(fresh(w.a.leader))
        with django_assert_max_num_queries(4) as few:
            assert len(results(c.get(FUNDS))) == 2
        for i in range(18):
            services.fund_save(actor=w.staff if i % 2 else w.a.secretary, node=w.street if i % 2 else w.a.community,
                               name=f"更多{i}", budget=Decimal("100"), starts_on=first, ends_on=last)
        c = client_for(fresh(w.a.leader))
        with django_assert_max_num_queries(4) as many:
            assert len(results(c.get(FUNDS))) == 20
        assert len(few.captured_queries) == len(many.captured_queries)


def submit(user, body, fmt="json"):
    return client_for(user).post(CLAIMS, body, format=fmt)


def claim_body(w, **over):
    body = {"fund": w.fund.pk, "kind": "meal", "amount": "35.50", "date": today().isoformat(), "note": "夜间执勤误餐"}
    body.update(over)
    return body


def decide(user, pk, name, body=None):
    return client_for(user).post(f"{CLAIMS}{pk}/{name}/", body or {}, format="json")


class TestClaimCreate:
    def test_json(self, funds):
        w = funds
        r = submit(w.a.leader, claim_body(w))
        assert r.status_code == 201, r.content
        data = r.json()
        c = ExpenseClaim.objects.get()
        assert set(data) == CLAIM_FIELDS
        got = (data["id"], data["fund"], data["leader"], data["grid"], data["kind"], data["amount"], data["state"])
        assert got == (c.pk, w.fund.pk, "leader_a", w.a.mg1.pk, "meal", "35.50", "submitted")
        assert data["date"] == today().isoformat() and data["receipt"] is None and data["note"] == "夜间执勤误餐"
        assert c.amount == Decimal("35.50") and c.community_id == w.a.community.pk
        assert Fund.objects.get(pk=w.fund.pk).approved == 0  # only approval draws on the fund

    def test_multipart_with_receipt(self, funds, media):
        w = funds
        receipt = image("receipt.png", size=(8, 8), colour="red")
        r = submit(w.a.leader, {**claim_body(w, amount="8"), "receipt": receipt}, fmt="multipart")
        assert r.status_code == 201, r.content
        assert r.json()["amount"] == "8.00"
        url = r.json()["receipt"]
        assert url.startswith("http://testserver/") and url.endswith(".png")
        stored = ExpenseClaim.objects.get().receipt
        assert (media / stored.name).is_file()

    def test_a_leader_chooses_one_of_his_grids(self, funds):
        w = funds
        RoleFactory(node=w.a.mg2, role=Role.LEADER, post=Post.A, user=w.a.leader)
        r = submit(fresh(w.a.leader), claim_body(w, grid=w.a.mg2.pk))
        assert r.status_code == 201 and r.json()["grid"] == w.a.mg2.pk
        before = fund_state()
        r = submit(fresh(w.a.leader), claim_body(w, grid=w.b.mg1.pk))
        assert r.status_code == 400 and list(field_errors(r)) == ["grid"]
        assert fund_state() == before

    @pytest.mark.parametrize("over, field", [
        ({"amount": "35.505"}, "amount"),
        ({"amount": 35.505}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"amount": "100000.01"}, "amount"),
        ({"kind": "gift"}, "kind"),
        ({"date": "2020-02-30"}, "date"),
        ({"fund": 999999}, "fund"),
        ({"note": "长" * 301}, "note"),
    ])
    def test_bad_input_writes_nothing(self, funds, over, field):
        w = funds
        before = fund_state()
        r = submit(w.a.leader, claim_body(w, **over))
        assert r.status_code == 400 and field in r.json(), r.content
        assert fund_state() == before

    def test_three_decimals_say_so(self, funds, english):
        r = submit(funds.a.leader, claim_body(funds, amount="35.505"))
        assert r.status_code == 400 and field_errors(r) == {"amount": ["At most two decimal places (fen)."]}
        assert error_codes(r) == {"amount": ["too_many_decimals"]}

    def test_closed_fund_writes_nothing(self, funds, english):
        w = funds
        before = fund_state()
        r = submit(w.a.leader, claim_body(w, fund=w.closed.pk))
        assert r.status_code == 400 and field_errors(r) == {"fund": ["This fund is closed."]}
        assert error_codes(r) == {"fund": ["fund_closed"]}
        assert fund_state() == before

    def test_fund_of_another_community_reads_as_unknown(self, funds):
        w = funds
        before = fund_state()
        r = submit(w.a.leader, claim_body(w, fund=w.fund_b.pk))
        assert r.status_code == 400 and list(field_errors(r)) == ["fund"]
        assert fund_state() == before

    def test_not_an_image(self, funds, media):
        w = funds
        before = fund_state()
        fake = SimpleUploadedFile("x.png", b"not an image", content_type="image/png")
        r = submit(w.a.leader, {**claim_body(w), "receipt": fake}, fmt="multipart")
        assert r.status_code == 400 and "receipt" in r.json()
        assert fund_state() == before and not any(media.rglob("*.png"))

    def test_only_leaders_claim(self, funds):
        w = funds
        before = fund_state()
        r = submit(w.a.secretary, claim_body(w))
        assert r.status_code == 400 and "grid" in r.json()
        assert APIClient().post(CLAIMS, claim_body(w), format="json").status_code == 401
        assert fund_state() == before


@shared_fixture
def claims(funds):
    w = funds
    w.claim_a = claim(w, w.a.leader, amount="30")
    w.claim_a_local = claim(w, w.a.leader, fund=w.fund_a, amount="30", kind="travel")
    w.claim_b = claim(w, w.b.leader, amount="20", kind="duty")
    return w


class TestClaims:
    def test_list_filters_and_detail(self, claims):
        w = claims
        mine = results(client_for(w.a.leader).get(CLAIMS))
        assert {c["id"] for c in mine} == {w.claim_a.pk, w.claim_a_local.pk}
        assert all(set(c) == CLAIM_FIELDS for c in mine)
        c = client_for(w.staff)
        assert ids(c.get(CLAIMS, {"fund": w.fund.pk})) == {w.claim_a.pk, w.claim_b.pk}
        assert ids(c.get(CLAIMS, {"kind": "travel"})) == {w.claim_a_local.pk}
        services.claim_approve(actor=w.staff, claim_id=w.claim_b.pk)
        assert ids(c.get(CLAIMS, {"state": "approved"})) == {w.claim_b.pk}
        assert ids(c.get(CLAIMS, {"state": "submitted", "fund": w.fund.pk})) == {w.claim_a.pk}
        for bad in ({"state": "lost"}, {"kind": "gift"}, {"fund": "x"}):
            r = c.get(CLAIMS, bad)
            assert r.status_code == 400 and set(bad) <= set(r.json()), r.content
        d = c.get(f"{CLAIMS}{w.claim_b.pk}/").json()
        assert (d["state"], d["decided_by"], d["amount"], d["fund_name"]) == ("approved", "staff", "20.00", w.fund.name)

    def test_scope(self, claims):
        w = claims
        assert ids(client_for(w.b.leader).get(CLAIMS)) == {w.claim_b.pk}
        assert client_for(w.b.leader).get(f"{CLAIMS}{w.claim_a.pk}/").status_code == 404
        assert ids(client_for(w.a.secretary).get(CLAIMS)) == {w.claim_a.pk, w.claim_a_local.pk}
        assert ids(client_for(w.b.secretary).get(CLAIMS)) == {w.claim_b.pk}
        assert client_for(w.b.secretary).get(f"{CLAIMS}{w.claim_a.pk}/").status_code == 404
        assert ids(client_for(w.staff).get(CLAIMS)) == {w.claim_a.pk, w.claim_a_local.pk, w.claim_b.pk}
        assert APIClient().get(CLAIMS).status_code == 401
        assert APIClient().get(f"{CLAIMS}{w.claim_a.pk}/").status_code == 401

    def test_approve_and_pay(self, claims):
        w = claims
        r = decide(w.staff, w.claim_a.pk, "approve", {"note": "同意"})
        assert r.status_code == 200, r.content
        assert (r.json()["state"], r.json()["decided_by"], r.json()["decision_note"]) == ("approved", "staff", "同意")
        assert Fund.objects.get(pk=w.fund.pk).approved == Decimal("30.00")
        r = decide(w.staff, w.claim_a.pk, "pay")
        assert r.status_code == 200 and r.json()["state"] == "paid" and r.json()["paid_at"]
        assert Fund.objects.get(pk=w.fund.pk).paid == Decimal("30.00")
        # The community's secretary decides the claims on the community's fund.
        r = decide(w.a.secretary, w.claim_a_local.pk, "approve")
        assert r.status_code == 200 and r.json()["state"] == "approved"

    def test_reject(self, claims, english):
        w = claims
        before = fund_state()
        r = decide(w.staff, w.claim_a.pk, "reject")
        assert r.status_code == 400 and list(field_errors(r)) == ["note"]
        assert fund_state() == before
        r = decide(w.staff, w.claim_a.pk, "reject", {"note": "无票据"})
        assert r.status_code == 200 and (r.json()["state"], r.json()["decision_note"]) == ("rejected", "无票据")
        r = decide(w.staff, w.claim_a.pk, "approve")
        assert r.status_code == 400 and "state" in r.json()

    def test_refused_decisions_write_nothing(self, claims):
        w = claims
        before = fund_state()
        # Another community's secretary does not see the claim at all.
        assert decide(w.b.secretary, w.claim_a.pk, "approve").status_code == 404
        assert decide(w.b.leader, w.claim_a.pk, "approve").status_code == 404
        # Community A's secretary sees the claim but does not keep the street's fund.
        r = decide(w.a.secretary, w.claim_a.pk, "approve")
        assert r.status_code == 403 and r.json()["detail"]
        # A leader does not approve his own claim.
        assert decide(w.a.leader, w.claim_a.pk, "approve").status_code == 403
        assert decide(w.a.leader, w.claim_a.pk, "reject", {"note": "x"}).status_code == 403
        # Paying waits for approval.
        r = decide(w.staff, w.claim_a.pk, "pay")
        assert r.status_code == 400 and "state" in r.json()
        assert decide(w.staff, 999999, "approve").status_code == 404
        assert APIClient().post(f"{CLAIMS}{w.claim_a.pk}/approve/", {}, format="json").status_code == 401
        assert fund_state() == before

    def test_fund_exhausted_answers_409(self, claims):
        w = claims
        second = claim(w, w.a.leader, fund=w.fund_a, amount="25")  # 30 + 25 > 50
        assert decide(w.a.secretary, w.claim_a_local.pk, "approve").status_code == 200
        before = fund_state()
        r = decide(w.a.secretary, second.pk, "approve")
        assert r.status_code == 409 and r.json()["detail"]
        assert fund_state() == before
        assert Fund.objects.get(pk=w.fund_a.pk).approved == Decimal("30.00")

    def test_approving_on_a_fund_closed_since(self, claims):
        w = claims
        services.fund_save(actor=w.a.secretary, fund=w.fund_a, node=w.a.community, closed=True)
        before = fund_state()
        r = decide(w.a.secretary, w.claim_a_local.pk, "approve")
        assert r.status_code == 400 and "fund" in r.json()
        assert fund_state() == before

    def test_budget(self, funds, django_assert_max_num_queries):
        w = funds
        for _ in range(2):
            claim(w, w.a.leader, amount="1")
        c = client_for(fresh(w.a.secretary))
        with django_assert_max_num_queries(3) as few:
            assert len(results(c.get(CLAIMS))) == 2
        for i in range(18):
            c = claim(w, w.a.leader, amount="1", kind=("meal", "travel", "duty")[i % 3])
            if i % 2:
                services.claim_approve(actor=w.staff, claim_id=c.pk, note="ok")
        c = client_for(fresh(w.a.secretary))
        with django_assert_max_num_queries(3) as many:
            assert len(results(c.get(CLAIMS))) == 20
        assert len(few.captured_queries) == len(many.captured_queries)


# --- anonymous and the schema -----------------------------------------------------------------


@pytest.mark.parametrize("method, url", [
    ("get", ME), ("get", ENTRIES), ("get", f"{ENTRIES}1/"), ("get", RULES), ("get", REWARDS), ("get", f"{REWARDS}1/"),
    ("post", f"{REWARDS}1/redeem/"), ("get", REDEMPTIONS), ("post", f"{REDEMPTIONS}1/fulfil/"),
    ("post", f"{REDEMPTIONS}1/cancel/"), ("get", RANKINGS), ("get", FUNDS), ("get", f"{FUNDS}1/report/"),
    ("get", CLAIMS), ("post", CLAIMS), ("post", f"{CLAIMS}1/approve/"), ("post", f"{CLAIMS}1/reject/"),
    ("post", f"{CLAIMS}1/pay/"),
])
def test_anonymous_is_refused(world, method, url):
    assert getattr(APIClient(), method)(url).status_code == 401


def test_schema_describes_the_incentives_api(world):
    schema, messages = api_schema()
    assert not [m for m in messages if "incentives" in m or "collision" in m], messages
    paths = schema["paths"]
    for path in (ME, ENTRIES, f"{ENTRIES}{{id}}/", RULES, f"{RULES}{{id}}/", REWARDS, f"{REWARDS}{{id}}/",
                 f"{REWARDS}{{id}}/redeem/", REDEMPTIONS, f"{REDEMPTIONS}{{id}}/", f"{REDEMPTIONS}{{id}}/fulfil/",
                 f"{REDEMPTIONS}{{id}}/cancel/", RANKINGS, FUNDS, f"{FUNDS}{{id}}/", f"{FUNDS}{{id}}/report/", CLAIMS,
                 f"{CLAIMS}{{id}}/", f"{CLAIMS}{{id}}/approve/", f"{CLAIMS}{{id}}/reject/", f"{CLAIMS}{{id}}/pay/"):
        assert path in paths, path
    redeem_op = paths[f"{REWARDS}{{id}}/redeem/"]["post"]
    assert {"201", "400", "404", "409"} <= set(redeem_op["responses"])
    assert {"201", "400"} <= set(paths[CLAIMS]["post"]["responses"])
    assert set(paths[CLAIMS]["post"]["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert "409" in paths[f"{CLAIMS}{{id}}/approve/"]["post"]["responses"]
    components = schema["components"]["schemas"]
    assert set(components["PointsSummary"]["properties"]) >= {"balance", "month_points", "rank_in_community"}
    assert set(components["PointEntry"]["properties"]) == ENTRY_FIELDS
    assert set(components["Redemption"]["properties"]) == REDEMPTION_FIELDS
    assert set(components["ExpenseClaimCreate"]["required"]) == {"fund", "kind", "amount", "date"}
    assert set(components["FundReportByKind"]["properties"]) == {"meal", "travel", "duty", "other"}
    assert {"StateEnum", "KindEnum"} <= set(components)  # the ledger's and the grid's names kept
    assert {p["name"] for p in paths[RANKINGS]["get"]["parameters"]} == {"node", "period", "by"}
    assert {"account", "rule", "since"} <= {p["name"] for p in paths[ENTRIES]["get"]["parameters"]}
    assert {"state", "fund", "kind"} <= {p["name"] for p in paths[CLAIMS]["get"]["parameters"]}
