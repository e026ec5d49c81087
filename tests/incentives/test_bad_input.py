"""No URL of the incentives answers 500 to a bad id or filter value: the API (/api/v1/incentives/…),
the admin (/admin/incentives/…) and the phone pages (/m/points/…). A bad id is a 404 (or a 400 on
its field); a bad filter value a 400 on its field, an empty list, or the list unfiltered — never a
500, on SQLite and on PostgreSQL (which refuses NUL bytes and integers past bigint)."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from incentives import services
from tests.support import client_for, field_errors, grant

BAD_IDS = ["abc", "0", "-1", "99999999999999999999", "%00", "１"]
BAD_VALUES = ["abc", "0", "-1", "99999999999999999999", "\x00", "0000", "9999-13", "é" * 300]
BAD_PERIODS = ["0000-01", "2026-00", "2026-Q0"]


@pytest.fixture
def books(world):
    """One of everything, so that a filter has rows to narrow."""
    w = world
    today = timezone.localdate()
    services.points_award(user=w.a.leader, rule="patrol_attended", source="bad:a")
    w.reward = services.reward_save(actor=w.staff, node=w.street, name="毛巾", cost=1, stock=5, active=True)
    w.redemption = services.reward_redeem(actor=w.a.leader, reward_id=w.reward.pk)
    w.fund = services.fund_save(actor=w.staff, node=w.street, name="经费", budget=Decimal("100"),
                                starts_on=today.replace(month=1, day=1), ends_on=today.replace(month=12, day=31))
    w.claim = services.claim_submit(actor=w.a.leader, fund_id=w.fund.pk, kind="meal", amount="1.00", date=today)
    w.honour = services.honour_create(actor=w.staff, title="优秀微网格长", period="2026", person=w.a.leader,
                                      node=w.street)
    w.visit = services.carevisit_create(actor=w.staff, leader=w.a.leader, date=today, occasion="春节")
    return w


def not_500(response, allowed=(200, 302, 400, 404)):
    assert response.status_code in allowed, (response.status_code, response.content[:300])
    return response


# --- the API ---------------------------------------------------------------------------------------

API = "/api/v1/incentives/"
DETAILS = ["entries", "rules", "rewards", "redemptions", "funds", "claims"]
ACTIONS = [("rewards", "redeem"), ("redemptions", "fulfil"), ("redemptions", "cancel"), ("claims", "approve"),
           ("claims", "reject"), ("claims", "pay")]
FILTERS = {
    "entries": ["account", "rule", "since", "until", "ordering", "page", "page_size"],
    "rules": ["active", "search", "ordering"],
    "rewards": ["node", "active", "search", "ordering"],
    "redemptions": ["state", "reward", "account", "ordering"],
    "funds": ["node", "closed", "search"],
    "claims": ["state", "fund", "kind", "leader", "ordering", "page"],
}


@pytest.fixture
def api(books):
    return client_for(books.staff)


def test_api_bad_ids_are_404(api):
    for bad in BAD_IDS:
        for endpoint in DETAILS:
            assert api.get(f"{API}{endpoint}/{bad}/").status_code == 404, (endpoint, bad)
        for endpoint, name in ACTIONS:
            assert api.post(f"{API}{endpoint}/{bad}/{name}/", {"note": "x"}, format="json").status_code == 404, (name, bad)
        assert api.get(f"{API}funds/{bad}/report/").status_code == 404


def test_api_bad_filter_values_never_500(api):
    for bad in BAD_VALUES:
        for endpoint, params in FILTERS.items():
            for param in params:
                r = not_500(api.get(f"{API}{endpoint}/", {param: bad}), allowed=(200, 400, 404))
                if r.status_code == 400:  # on its field (or on top, as DRF's search says a NUL)
                    (field,) = field_errors(r)
                    assert field in (param, "non_field_errors") and r.json()["codes"][field], (endpoint, param, r.json())


def test_api_bad_ranking_query_is_a_400(api, books):
    for bad in BAD_VALUES + BAD_PERIODS:
        for params in ({"node": bad}, {"node": books.street.pk, "period": bad}, {"node": books.street.pk, "by": bad}):
            r = api.get(f"{API}rankings/", params)
            assert r.status_code in (400, 404), (params, r.content)
            if r.status_code == 400:
                (field,) = field_errors(r)
                assert field in params and r.json()["codes"][field]


def test_api_bad_bodies_are_a_400(books):
    leader = client_for(books.a.leader)
    base = {"fund": books.fund.pk, "kind": "meal", "amount": "1.00", "date": timezone.localdate().isoformat()}
    for bad in BAD_VALUES:
        for field in ("fund", "grid", "kind", "amount", "date"):
            r = leader.post(f"{API}claims/", {**base, field: bad}, format="json")
            assert r.status_code == 400 and field in r.json() and r.json()["codes"][field], (field, bad, r.content)
        r = leader.post(f"{API}rewards/{books.reward.pk}/redeem/", {"quantity": bad}, format="json")
        assert r.status_code == 400 and list(r.json()["codes"]) == ["quantity"], r.content


# --- the admin -------------------------------------------------------------------------------------

MODELS = ["pointrule", "entry", "account", "reward", "redemption", "honour", "carevisit", "fund", "expenseclaim"]
ADMIN_FILTERS = {
    "entry": ["rule__id__exact", "created_at__gte", "account__id__exact", "q", "o", "p"],
    "account": ["q", "o", "p"],
    "pointrule": ["active__exact", "q"],
    "reward": ["ancestor", "active__exact", "q"],
    "redemption": ["ancestor", "state__exact", "q"],
    "honour": ["ancestor", "period", "title", "q"],
    "carevisit": ["ancestor", "occasion", "date__year", "date__month", "q"],
    "fund": ["ancestor", "closed__exact", "q"],
    "expenseclaim": ["ancestor", "fund", "state__exact", "kind__exact", "q"],
}


@pytest.fixture
def staff_client(client, books):
    client.force_login(grant(books.staff, "street_staff"))
    return client


def test_admin_bad_ids_are_404(staff_client):
    for bad in BAD_IDS:
        for model in MODELS:
            base = reverse(f"admin:incentives_{model}_changelist")
            for tail in ("change/", "history/"):
                assert not_500(staff_client.get(f"{base}{bad}/{tail}")).status_code == 404, (model, tail, bad)
        for name, tail in (("entry", "reverse/"), ("honour", "certificate/"), ("fund", "report/export/")):
            url = reverse(f"admin:incentives_{name}_changelist")
            assert staff_client.get(f"{url}{bad}/{tail}").status_code == 404, (name, bad)


def test_admin_bad_filter_values_never_500(staff_client):
    for bad in BAD_VALUES:
        for model, params in ADMIN_FILTERS.items():
            url = reverse(f"admin:incentives_{model}_changelist")
            for param in params:
                not_500(staff_client.get(url, {param: bad}))
        not_500(staff_client.get(reverse("admin:incentives_entry_export"), {"q": bad}))


def test_admin_bad_ranking_query_never_500(staff_client, books):
    for bad in BAD_VALUES + BAD_PERIODS:
        for params in ({"node": bad}, {"period": bad}, {"by": bad}, {"node": books.street.pk, "period": bad}):
            r = not_500(staff_client.get(reverse("admin:incentives_honour_rankings"), params))
            if r.status_code == 200:
                assert not r.context["rows"] or params.get("period") in (None, "")
            not_500(staff_client.get(reverse("admin:incentives_honour_rankings_export"), params))


# --- the phone pages -------------------------------------------------------------------------------


@pytest.fixture
def leader_client(client, books):
    client.force_login(books.a.leader)
    return client


def test_mobile_bad_ids_are_404(leader_client):
    for bad in BAD_IDS:
        for path in (f"/m/points/rewards/{bad}/redeem/", f"/m/points/redemptions/{bad}/cancel/"):
            assert leader_client.post(path, {"quantity": "1"}).status_code == 404, path
            assert leader_client.get(path).status_code == 404, path


def test_mobile_bad_query_values_never_500(leader_client, books):
    for bad in BAD_VALUES + BAD_PERIODS:
        for path in ("/m/points/", "/m/points/rewards/", "/m/points/redemptions/", "/m/points/claims/"):
            assert not_500(leader_client.get(path, {"page": bad})).status_code == 200, path
        r = not_500(leader_client.get("/m/points/ranking/", {"period": bad, "by": bad}))
        assert r.status_code == 200
        r = not_500(leader_client.post("/m/points/claims/", {"fund": bad, "kind": bad, "amount": bad, "date": bad}))
        assert r.status_code == 200 and r.context["form"].errors
        r = not_500(leader_client.post(f"/m/points/rewards/{books.reward.pk}/redeem/", {"quantity": bad}))
        assert r.status_code == 200

