"""The mobile points pages (incentives/views.py): my points and history, the catalogue and redeeming,
my redemptions and cancelling, my expense claims with a receipt photo, the ranking of my community."""

import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone, translation

from grid.models import Post, Role
from incentives import services
from incentives.models import Account, Entry, ExpenseClaim, PointRule, Redemption, Reward
from patrols import services as patrol_services
from tests.factories import RoleFactory, UserFactory, act, checklist, issue, plan
from tests.support import balance, image, login, message_texts

# The points page, whatever the length of the history and the kinds of sources on it: session, user,
# the summary (account, month's points, home node and its ancestors, the ranking's people, values and
# names), the page's count and rows, one lookup per kind of source (issues with the scope's roles,
# patrols, work logs), honours and care visits.
POINTS_BUDGET = 19
# The catalogue, whatever the number of rewards: session, user, balance, the user's places (twice:
# scope and offer), rewards with their place.
CATALOGUE_BUDGET = 7
# My redemptions (session, user, scope, count, rows with reward and place) and my claims (session, user,
# the user's places and scope for the open funds, the funds, my micro-grids, count, rows with their fund).
REDEMPTIONS_BUDGET = 5
CLAIMS_BUDGET = 9

pytestmark = pytest.mark.usefixtures("media")


def url(name, *args):
    return reverse(f"mobile_incentives:{name}", args=args)


def award(user, points, source=None):
    """`points` points in one entry, under a rule of their own (no monthly cap)."""
    rule, _created = PointRule.objects.get_or_create(code=f"test_{points}", defaults={"name": f"测试{points}", "points": points})
    source = source or f"test:{user.pk}:{Entry.objects.count()}"
    entry = services.points_award(user=user, rule=rule, source=source)
    assert entry is not None
    return entry


def reward(world, node=None, actor=None, **kw):
    kw = {"name": "洗衣液", "cost": 5, "stock": 3, "active": True, **kw}
    return services.reward_save(actor=actor or world.staff, node=node or world.street, **kw)


def fund(world, node=None, **kw):
    year = timezone.localdate().year
    kw = {"name": "误餐出行执勤经费", "budget": Decimal("1000.00"), "starts_on": datetime.date(year, 1, 1),
          "ends_on": datetime.date(year, 12, 31), **kw}
    return services.fund_save(actor=world.staff, node=node or world.street, **kw)


def ledger_state():
    return (Entry.objects.count(), Redemption.objects.count(), sorted(Reward.objects.values_list("pk", "stock")),
            sorted(Account.objects.values_list("pk", "balance")))


# --- login ---------------------------------------------------------------------------------------


def test_every_page_needs_a_login(client, world):
    r = reward(world)
    pages = [url("index"), url("rewards"), url("redeem", r.pk), url("redemptions"), url("cancel", 1),
             url("claims"), url("ranking")]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 302, page
        assert response["Location"] == f"{reverse('mobile:login')}?next={page}"
    before = ledger_state()
    assert client.post(url("redeem", r.pk), {"quantity": 1}).status_code == 302
    assert ledger_state() == before


def test_every_page_renders_for_a_leader(client, world):
    login(client, world.a.leader)
    for page in (url("index"), url("rewards"), url("redemptions"), url("claims"), url("ranking")):
        response = client.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        assert "incentives/incentives.css" in html
        assert 'aria-current="page"' in html


# --- my points -----------------------------------------------------------------------------------


def test_points_page_shows_balance_month_rank_and_history_with_readable_sources(
        en, world, django_capture_on_commit_callbacks):
    w = world
    today = timezone.localdate()
    # A patrol the leader walked and an issue they resolved on the spot, then closed with a satisfied resident.
    p = plan(w.a.compound)
    with django_capture_on_commit_callbacks(execute=True):
        patrol = patrol_services.patrol_record(actor=w.a.leader, plan_id=p.pk, date=today, items=checklist(p))
    with django_capture_on_commit_callbacks(execute=True):
        solved = act(issue(w.a.mg1, w.a.leader), "resolve_on_spot", w.a.leader, note="当场修好")
    with django_capture_on_commit_callbacks(execute=True):
        act(solved, "give_feedback", w.a.leader, channel="visit", text="已告知", satisfaction="satisfied")
    services.honour_create(actor=w.staff, title="优秀微网格长", period=f"{today.year}", person=w.a.leader, node=w.street)
    services.carevisit_create(actor=w.staff, leader=w.a.leader, date=today, occasion="春节走访", gift="米和油")
    award(w.b.leader, 50)  # someone else's points are not in my history

    login(en, w.a.leader)
    response = en.get(url("index"))
    assert response.status_code == 200
    summary = response.context["summary"]
    assert summary == {"balance": 13, "month_points": 13, "rank_in_community": 1, "community": "社区A"}
    rows = response.context["rows"]
    assert [(r["entry"].points, r["entry"].rule.code) for r in rows] == [
        (5, "closed_satisfied"), (3, "resolved_on_spot"), (5, "patrol_attended")]
    html = response.content.decode()
    assert reverse("mobile_issues:detail", args=[solved.pk]) in html
    assert f"Issue {solved.number}" in html
    assert reverse("mobile_patrols:record", args=[patrol.pk]) in html
    assert f"Patrol: {p.scenario.name}, {today.isoformat()}" in html
    assert "问题办结且居民满意" in html and "参加联动巡查" in html
    assert "优秀微网格长" in html and "春节走访" in html and "米和油" in html
    assert "测试50" not in html
    assert "rank this month in 社区A" in html


def test_a_source_outside_the_scope_is_named_without_a_link(en, world):
    """Points a leader earned on an issue they no longer see: the entry stays, the link goes."""
    other = issue(world.b.mg1, world.b.leader)
    award(world.a.leader, 3, source=f"issue:{other.pk}:resolved_on_spot:1")
    login(en, world.a.leader)
    html = en.get(url("index")).content.decode()
    assert f"Issue #{other.pk}" in html
    assert reverse("mobile_issues:detail", args=[other.pk]) not in html
    assert other.number not in html


def test_redemptions_and_reversals_read_as_such_in_the_history(en, world):
    award(world.a.leader, 20)
    r = reward(world, name="雨伞", cost=4)
    with translation.override("en"):  # an entry's note is written in its writer's language
        redemption = services.reward_redeem(actor=world.a.leader, reward_id=r.pk, quantity=2)
        services.redemption_cancel(actor=world.a.leader, redemption_id=redemption.pk)
    login(en, world.a.leader)
    response = en.get(url("index"))
    labels = [(row["entry"].points, row["label"], row["source"]["text"]) for row in response.context["rows"]]
    assert labels[:2] == [(8, "Reversal", "Redemption cancelled"), (-8, "Reward redeemed", "Redeemed: 雨伞 × 2")]
    assert response.context["summary"]["balance"] == 20


def test_the_history_is_paginated_newest_first(client, world):
    for _i in range(35):
        award(world.a.leader, 1)
    login(client, world.a.leader)
    first = client.get(url("index"))
    assert len(first.context["rows"]) == 30
    assert first.context["page"].paginator.num_pages == 2
    ids = [r["entry"].pk for r in first.context["rows"]]
    assert ids == sorted(ids, reverse=True)
    second = client.get(url("index"), {"page": 2})
    assert len(second.context["rows"]) == 5
    assert max(r["entry"].pk for r in second.context["rows"]) < min(ids)


def test_points_page_query_budget_does_not_grow_with_the_history(client, world, django_assert_max_num_queries):
    w = world
    patrol_issue = issue(w.a.mg1, w.a.leader)

    def some(n, start):
        for i in range(start, start + n):
            award(w.a.leader, 1, source=f"issue:{patrol_issue.pk}:resolved_on_spot:{i}")
            award(w.a.leader, 1, source=f"patrol:{i}:attended:{w.a.leader.pk}")
            award(w.a.leader, 1, source=f"worklog:{i}:errand_logged")
            award(w.a.leader, 1, source=f"other:{i}")

    some(1, 0)
    services.carevisit_create(actor=w.staff, leader=w.a.leader, date=timezone.localdate(), occasion="中秋")
    login(client, w.a.leader)
    with django_assert_max_num_queries(POINTS_BUDGET):
        assert client.get(url("index")).status_code == 200
    some(10, 100)
    with django_assert_max_num_queries(POINTS_BUDGET):
        response = client.get(url("index"))
    assert len(response.context["rows"]) == 30


# --- the catalogue and redeeming -----------------------------------------------------------------


def test_catalogue_lists_the_offered_active_rewards_with_cost_and_stock(en, world):
    w = world
    street = reward(w, name="洗衣液", cost=5, stock=3)
    mine = reward(w, node=w.a.community, actor=w.a.secretary, name="社区A电影票", cost=8, stock=2)
    reward(w, node=w.b.community, actor=w.b.secretary, name="社区B电影票", cost=8, stock=2)
    reward(w, name="下架的奖品", active=False)
    award(w.a.leader, 6)
    login(en, w.a.leader)
    response = en.get(url("rewards"))
    assert [row["reward"].pk for row in response.context["rows"]] == [street.pk, mine.pk]
    html = response.content.decode()
    assert "社区B电影票" not in html and "下架的奖品" not in html
    assert "3 in stock" in html and "8 points" in html
    assert "You have 6 points to spend." in html
    assert "You need 2 more points for one." in html
    assert f'action="{url("redeem", street.pk)}"' in html
    assert 'name="quantity"' in html and f'id="id_r{mine.pk}_quantity"' in html


def test_a_leader_of_community_b_does_not_see_or_redeem_community_as_rewards(client, world):
    w = world
    only_a = reward(w, node=w.a.community, actor=w.a.secretary, name="社区A专属", cost=1, stock=5)
    award(w.b.leader, 20)
    login(client, w.b.leader)
    response = client.get(url("rewards"))
    assert only_a.pk not in [row["reward"].pk for row in response.context["rows"]]
    assert "社区A专属" not in response.content.decode()
    before = ledger_state()
    assert client.post(url("redeem", only_a.pk), {"quantity": 1}).status_code == 404
    assert client.get(url("redeem", only_a.pk)).status_code == 404
    assert ledger_state() == before


def test_catalogue_query_budget_does_not_grow_with_rewards(client, world, django_assert_max_num_queries):
    reward(world, name="奖品0")
    login(client, world.a.leader)
    with django_assert_max_num_queries(CATALOGUE_BUDGET):
        assert client.get(url("rewards")).status_code == 200
    for i in range(1, 15):
        reward(world, name=f"奖品{i}", node=world.a.community if i % 2 else world.street,
               actor=world.a.secretary if i % 2 else world.staff)
    with django_assert_max_num_queries(CATALOGUE_BUDGET):
        response = client.get(url("rewards"))
    assert len(response.context["rows"]) == 15


def test_redeem_spends_points_and_stock_and_lists_the_redemption(en, world):
    r = reward(world, cost=5, stock=3)
    award(world.a.leader, 12)
    login(en, world.a.leader)
    assert en.get(url("redeem", r.pk))["Location"] == url("rewards")  # a reload redeems nothing
    response = en.post(url("redeem", r.pk), {"quantity": 2}, follow=True)
    assert response.redirect_chain == [(url("redemptions"), 302)]
    assert "Redeemed: 洗衣液 × 2 for 10 points. The staff will hand it over." in message_texts(response)
    assert balance(world.a.leader) == 2
    assert Reward.objects.get(pk=r.pk).stock == 1
    [redemption] = Redemption.objects.all()
    assert (redemption.quantity, redemption.points, redemption.state) == (2, 10, "requested")
    html = response.content.decode()
    assert "洗衣液 × 2" in html and "requested" in html
    assert f'action="{url("cancel", redemption.pk)}"' in html


@pytest.mark.parametrize("quantity, points, stock, expected", [
    (4, 100, 3, "Not enough left in stock."),
    (1, 4, 3, "Not enough points."),
    (3, 12, 3, "Not enough points."),
])
def test_redeem_conflicts_are_shown_on_the_form_and_write_nothing(en, world, quantity, points, stock, expected):
    r = reward(world, cost=5, stock=stock)
    award(world.a.leader, points)
    login(en, world.a.leader)
    before = ledger_state()
    response = en.post(url("redeem", r.pk), {"quantity": quantity})
    assert response.status_code == 200
    bound = response.context["bound"]
    assert bound.reward.pk == r.pk
    assert bound.non_field_errors() == [expected]
    html = response.content.decode()
    assert expected in html and f'href="#reward-{r.pk}"' in html
    assert ledger_state() == before


@pytest.mark.parametrize("quantity", ["0", "-1", "abc", "101", ""])
def test_a_bad_quantity_is_a_field_error_and_writes_nothing(en, world, quantity):
    r = reward(world, cost=1, stock=200)
    award(world.a.leader, 500)
    login(en, world.a.leader)
    before = ledger_state()
    response = en.post(url("redeem", r.pk), {"quantity": quantity})
    assert response.status_code == 200
    assert response.context["bound"].errors["quantity"]
    assert ledger_state() == before


def test_a_reward_taken_off_meanwhile_answers_404(client, world):
    r = reward(world)
    award(world.a.leader, 20)
    services.reward_save(actor=world.staff, reward=r, node=world.street, active=False)
    login(client, world.a.leader)
    assert client.post(url("redeem", r.pk), {"quantity": 1}).status_code == 404
    assert not Redemption.objects.exists()


# --- my redemptions and cancelling ---------------------------------------------------------------


def test_redemptions_lists_mine_with_a_cancel_button_while_requested(en, world):
    r = reward(world, cost=2, stock=10)
    award(world.a.leader, 20)
    award(world.b.leader, 20)
    handed = services.reward_redeem(actor=world.a.leader, reward_id=r.pk, quantity=1)
    services.redemption_fulfil(actor=world.staff, redemption_id=handed.pk)
    waiting = services.reward_redeem(actor=world.a.leader, reward_id=r.pk, quantity=3)
    theirs = services.reward_redeem(actor=world.b.leader, reward_id=r.pk, quantity=2)
    login(en, world.a.leader)
    response = en.get(url("redemptions"))
    assert [x.pk for x in response.context["page"]] == [waiting.pk, handed.pk]
    html = response.content.decode()
    assert f'action="{url("cancel", waiting.pk)}"' in html
    assert url("cancel", handed.pk) not in html and url("cancel", theirs.pk) not in html
    assert "fulfilled" in html and "requested" in html


def test_redemptions_and_claims_query_budgets_do_not_grow_with_rows(client, world, django_assert_max_num_queries):
    w = world
    r = reward(w, cost=1, stock=100)
    street_fund = fund(w)
    award(w.a.leader, 100)
    day = timezone.localdate()

    def some(n):
        for _i in range(n):
            services.reward_redeem(actor=w.a.leader, reward_id=r.pk, quantity=1)
            services.claim_submit(actor=w.a.leader, fund_id=street_fund.pk, kind="meal", amount="10", date=day)

    some(1)
    login(client, w.a.leader)
    for page, budget in ((url("redemptions"), REDEMPTIONS_BUDGET), (url("claims"), CLAIMS_BUDGET)):
        with django_assert_max_num_queries(budget):
            assert client.get(page).status_code == 200
    some(25)
    for page, budget in ((url("redemptions"), REDEMPTIONS_BUDGET), (url("claims"), CLAIMS_BUDGET)):
        with django_assert_max_num_queries(budget):
            response = client.get(page)
        assert len(response.context["page"]) >= 20


def test_cancel_gives_back_points_and_stock(en, world):
    r = reward(world, cost=5, stock=3)
    award(world.a.leader, 12)
    redemption = services.reward_redeem(actor=world.a.leader, reward_id=r.pk, quantity=2)
    login(en, world.a.leader)
    # A GET (a reload) changes nothing.
    assert en.get(url("cancel", redemption.pk)).status_code == 302
    assert Redemption.objects.get(pk=redemption.pk).state == "requested"
    response = en.post(url("cancel", redemption.pk), follow=True)
    assert response.redirect_chain == [(url("redemptions"), 302)]
    assert "Cancelled: 10 points are back on your account." in message_texts(response)
    assert Redemption.objects.get(pk=redemption.pk).state == "cancelled"
    assert balance(world.a.leader) == 12 and Reward.objects.get(pk=r.pk).stock == 3
    # Twice: the service refuses, nothing moves.
    before = ledger_state()
    response = en.post(url("cancel", redemption.pk), follow=True)
    assert "This redemption is cancelled already." in message_texts(response)
    assert ledger_state() == before


def test_someone_elses_redemption_cannot_be_cancelled_here(client, world):
    r = reward(world, node=world.a.community, actor=world.a.secretary, cost=5, stock=3)
    award(world.a.leader, 10)
    redemption = services.reward_redeem(actor=world.a.leader, reward_id=r.pk, quantity=1)
    before = ledger_state()
    # Another community's leader, and the secretary who sees it in her admin: not from this page.
    for other in (world.b.leader, world.a.secretary, world.staff):
        login(client, other)
        assert client.post(url("cancel", redemption.pk)).status_code == 404
        assert url("cancel", redemption.pk) not in client.get(url("redemptions")).content.decode()
    assert ledger_state() == before
    assert Redemption.objects.get(pk=redemption.pk).state == "requested"


# --- expense claims ------------------------------------------------------------------------------


def test_claim_form_offers_my_open_funds_and_the_camera(client, world):
    w = world
    street_fund = fund(w)
    fund(w, name="已关闭经费", closed=True)
    fund(w, node=w.b.community, name="社区B经费")
    login(client, w.a.leader)
    response = client.get(url("claims"))
    form = response.context["form"]
    assert list(form.fields["fund"].queryset) == [street_fund]
    assert "grid" not in form.fields  # one micro-grid: no need to ask
    html = response.content.decode()
    assert 'enctype="multipart/form-data"' in html
    assert 'type="file" name="receipt" accept="image/*" capture="environment"' in html
    assert "已关闭经费" not in html and "社区B经费" not in html
    assert [c for c, _l in form.fields["kind"].choices] == ["meal", "travel", "duty", "other"]


def test_a_claim_with_a_receipt_photo(en, world):
    f = fund(world)
    login(en, world.a.leader)
    day = timezone.localdate()
    response = en.post(url("claims"), {"fund": f.pk, "kind": "meal", "amount": "35.50", "date": day.isoformat(),
                                       "note": "巡查误餐", "receipt": image("receipt.png", colour=(240, 240, 240))}, follow=True)
    assert response.redirect_chain == [(url("claims"), 302)]
    [claim] = ExpenseClaim.objects.all()
    assert (claim.leader, claim.fund, claim.kind, claim.amount, claim.date, claim.grid, claim.state) == (
        world.a.leader, f, "meal", Decimal("35.50"), day, world.a.mg1, "submitted")
    assert claim.receipt.name.startswith("receipts/") and claim.receipt.name.endswith(".png")
    assert f"Your claim of 35.50 yuan is submitted to {f.name}." in message_texts(response)
    html = response.content.decode()
    assert "¥35.50" in html and claim.receipt.url in html and "submitted" in html


def test_an_amount_with_three_decimals_is_a_field_error_and_writes_nothing(en, world):
    f = fund(world)
    login(en, world.a.leader)
    response = en.post(url("claims"), {"fund": f.pk, "kind": "travel", "amount": "12.345",
                                       "date": timezone.localdate().isoformat(), "receipt": image("receipt.png", colour=(240, 240, 240))})
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["amount"] == ["At most two decimal places (fen)."]
    assert "At most two decimal places (fen)." in response.content.decode()
    assert "Choose the receipt photo again" in response.content.decode()
    assert not ExpenseClaim.objects.exists()


def test_the_services_errors_land_on_their_fields(en, world):
    year = timezone.localdate().year
    f = fund(world, starts_on=datetime.date(year - 1, 1, 1), ends_on=datetime.date(year - 1, 12, 31))
    login(en, world.a.leader)
    response = en.post(url("claims"), {"fund": f.pk, "kind": "duty", "amount": "20",
                                       "date": timezone.localdate().isoformat()})
    assert response.status_code == 200
    assert response.context["form"].errors["date"] == ["The expense must fall within the fund's period."]
    assert not ExpenseClaim.objects.exists()


def test_bad_claims_write_nothing(en, world):
    w = world
    f = fund(w)
    closed = fund(w, name="已关闭", closed=True)
    theirs = fund(w, node=w.b.community, name="社区B")
    login(en, w.a.leader)
    today = timezone.localdate().isoformat()
    good = {"fund": f.pk, "kind": "meal", "amount": "10", "date": today}
    cases = [
        ({"fund": closed.pk}, "fund"),
        ({"fund": theirs.pk}, "fund"),
        ({"kind": "bonus"}, "kind"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"amount": "100000.01"}, "amount"),
        ({"date": "2026-13-40"}, "date"),
        ({"date": (timezone.localdate() + datetime.timedelta(days=1)).isoformat()}, "date"),
        ({"receipt": SimpleUploadedFile("r.png", b"not an image", content_type="image/png")}, "receipt"),
    ]
    for change, field in cases:
        response = en.post(url("claims"), {**good, **change})
        assert response.status_code == 200, change
        assert response.context["form"].errors.get(field), (change, response.context["form"].errors)
    assert not ExpenseClaim.objects.exists()


def test_a_leader_of_two_micro_grids_says_which_one(en, world):
    w = world
    RoleFactory(node=w.a.mg2, role=Role.LEADER, post=Post.A, user=w.a.leader)
    f = fund(w)
    login(en, w.a.leader)
    form = en.get(url("claims")).context["form"]
    assert list(form.fields["grid"].queryset) == [w.a.mg1, w.a.mg2]
    day = timezone.localdate().isoformat()
    response = en.post(url("claims"), {"fund": f.pk, "grid": w.b.mg1.pk, "kind": "duty", "amount": "8", "date": day})
    assert response.context["form"].errors["grid"]
    assert not ExpenseClaim.objects.exists()
    en.post(url("claims"), {"fund": f.pk, "grid": w.a.mg2.pk, "kind": "duty", "amount": "8", "date": day})
    assert ExpenseClaim.objects.get().grid == w.a.mg2


def test_claims_list_is_mine_only(en, world):
    f = fund(world)
    day = timezone.localdate()
    mine = services.claim_submit(actor=world.a.leader, fund_id=f.pk, kind="meal", amount="15", date=day)
    services.claim_submit(actor=world.b.leader, fund_id=f.pk, kind="travel", amount="77.70", date=day)
    login(en, world.a.leader)
    response = en.get(url("claims"))
    assert [c.pk for c in response.context["page"]] == [mine.pk]
    assert "77.70" not in response.content.decode()


def test_someone_without_a_micro_grid_is_told_claims_are_for_leaders(en, world):
    fund(world)
    login(en, world.a.secretary)
    response = en.get(url("claims"))
    assert response.status_code == 200
    assert "Claims are made by micro-grid leaders for their own micro-grid." in response.content.decode()
    assert 'name="amount"' not in response.content.decode()


# --- the ranking ---------------------------------------------------------------------------------


def test_ranking_shows_my_community_and_highlights_my_row(en, world):
    w = world
    second = RoleFactory(node=w.a.mg2, role=Role.LEADER, post=Post.A, user=UserFactory(username="leader_a2", name="李四")).user
    award(w.a.leader, 8)
    award(second, 15)
    award(w.b.leader, 30)  # community B: not in community A's ranking
    login(en, w.a.leader)
    response = en.get(url("ranking"))
    assert response.status_code == 200
    assert response.context["node"] == w.a.community
    assert [(r["rank"], r["user"], r["value"]) for r in response.context["rows"]] == [
        (1, second.pk, 15), (2, w.a.leader.pk, 8)]
    assert response.context["mine"]["rank"] == 2
    html = response.content.decode()
    assert "You are number 2 (8)." in html
    assert html.count('aria-current="true"') == 1
    assert 'class="rank-row me"' in html
    assert "李四" in html and "leader_b" not in html
    assert "Ranking of 社区A" in html


def test_ranking_presets_and_measures(en, world, django_capture_on_commit_callbacks):
    w = world
    with django_capture_on_commit_callbacks(execute=True):
        solved = act(issue(w.a.mg1, w.a.leader), "resolve_on_spot", w.a.leader, note="当场修好")
    with django_capture_on_commit_callbacks(execute=True):
        act(solved, "give_feedback", w.a.leader, channel="visit", text="已告知", satisfaction="satisfied")
    login(en, w.a.leader)
    today = timezone.localdate()
    response = en.get(url("ranking"), {"period": "year", "by": "satisfied"})
    assert (response.context["preset"], response.context["by"]) == ("year", "satisfied")
    assert (response.context["first"], response.context["last"]) == (datetime.date(today.year, 1, 1),
                                                                      datetime.date(today.year, 12, 31))
    assert [(r["user"], r["value"]) for r in response.context["rows"]] == [(w.a.leader.pk, 1)]
    response = en.get(url("ranking"), {"period": "quarter", "by": "worklogs"})
    assert response.context["rows"] == [] and "You are not in this ranking yet." in response.content.decode()
    assert response.context["first"].month == (today.month - 1) // 3 * 3 + 1
    # Unknown values fall back to this month by points, one at a time.
    response = en.get(url("ranking"), {"period": "decade", "by": "satisfied"})
    assert (response.context["preset"], response.context["by"]) == ("month", "satisfied")
    response = en.get(url("ranking"), {"by": "money"})
    assert (response.context["preset"], response.context["by"]) == ("month", "points")
    assert [(r["user"], r["value"]) for r in response.context["rows"]] == [(w.a.leader.pk, 8)]


def test_someone_without_a_role_sees_no_ranking(en, db):
    nobody = UserFactory(username="nobody")
    login(en, nobody)
    response = en.get(url("ranking"))
    assert response.status_code == 200 and response.context["rows"] == []
    assert "You hold no role in a community." in response.content.decode()
    assert en.get(url("rewards")).context["rows"] == []
    assert en.get(url("index")).context["summary"]["rank_in_community"] is None
