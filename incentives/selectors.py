"""Reads of the incentives app, always scoped to a user; rankings and the fund's report."""

from collections import Counter

from django.db.models import Count, Q, Sum
from django.utils.translation import gettext as _

from common.errors import invalid
from common.periods import current_month, day_range, month_bounds, parse_period
from grid import access
from grid.models import GridNode, Level, Role, RoleAssignment
from grid.selectors import visible_roles
from issues.models import IssueEvent
from patrols.models import WorkLog

from .models import Account, CareVisit, Entry, ExpenseClaim, Fund, Honour, Redemption, Reward

# Who keeps a street's or community's catalogue and fund.
MANAGERS = (Role.STREET_STAFF, Role.SECRETARY)


def home_node(user):
    """The node a person's points belong to: the community of their first active role (or street)."""
    line = RoleAssignment.objects.active().filter(user=user).select_related("node").order_by("node__level", "id").first()
    if line is None:
        return None
    node = line.node
    if node.level <= Level.COMMUNITY:
        return node
    return node.get_ancestors().filter(level=Level.COMMUNITY).first() or node


def offered_to_q(user):
    """Q for rows offered at a node (street or community) that contains one of the user's places."""
    q = Q(pk__in=[])
    for line in RoleAssignment.objects.active().filter(user=user).select_related("node"):
        q |= access.ancestors_q(line.node, "node")
    return q


def _people_in_scope(user):
    return visible_roles(user).values("user_id")


def _own_or_kept(model, user, own):
    """Rows of `model` that are the user's own (`own(user)`: a Q) or that the user's scope keeps
    (the model's `scope_via`, through `Model.objects.restrict`)."""
    if not user or not user.is_authenticated:
        return model.objects.none()
    if access.scope_roots(user) is None:
        return model.objects.all()
    return model.objects.filter(own(user) | Q(pk__in=model.objects.restrict(user).values("pk")))


def visible_entries(user):
    if not user or not user.is_authenticated:
        return Entry.objects.none()
    if access.scope_roots(user) is None:
        return Entry.objects.all()
    return Entry.objects.filter(Q(account__user=user) | Q(account__user__in=_people_in_scope(user)))


def visible_accounts(user):
    if access.scope_roots(user) is None:
        return Account.objects.all()
    return Account.objects.filter(Q(user=user) | Q(user__in=_people_in_scope(user)))


def visible_rewards(user):
    """Rewards offered to the user's places, and those the user's scope keeps."""
    return _own_or_kept(Reward, user, offered_to_q)


def visible_redemptions(user):
    return _own_or_kept(Redemption, user, lambda u: Q(account__user=u))


def managed_nodes(user):
    """The streets and communities where the user keeps rewards, funds and honours: those under their
    street-staff or secretary roles (MANAGERS)."""
    qs = GridNode.objects.filter(level__lte=Level.COMMUNITY).order_by(*access.tree_order())
    if user.is_superuser:
        return qs
    q = Q(pk__in=[])
    for line in RoleAssignment.objects.active().filter(user=user, role__in=MANAGERS).select_related("node"):
        q |= access.subtree_q(line.node)
    return qs.filter(q)


def reward_list(user):
    """The catalogue as a user reads it: the active rewards offered to them, and — where they keep
    the catalogue — the withdrawn ones too."""
    qs = visible_rewards(user)
    if not user or not user.is_authenticated or user.is_superuser:
        return qs
    return qs.filter(Q(active=True) | Q(node__in=managed_nodes(user)))


def visible_funds(user):
    return _own_or_kept(Fund, user, offered_to_q)


def visible_claims(user):
    return _own_or_kept(ExpenseClaim, user, lambda u: Q(leader=u))


def visible_honours(user):
    return _own_or_kept(Honour, user, lambda u: Q(person=u))


def visible_carevisits(user):
    return _own_or_kept(CareVisit, user, lambda u: Q(leader=u))


# --- rankings ------------------------------------------------------------------------------

RANKINGS = ("points", "satisfied", "worklogs")


def rankings(node, period, by="points", limit=50):
    """People holding a role in `node`'s subtree, ranked for the period: by points earned (awards and
    penalties, not spending), by issues they solved that closed with a satisfied resident, or by work
    logs. [{rank, user, username, name, value}], ties share a rank."""
    if by not in RANKINGS:
        raise invalid("by", _("Rank by points, satisfied or worklogs."), "invalid_ranking")
    first, last = parse_period(period)
    start, end = day_range(first, last)
    people = dict(
        RoleAssignment.objects.active().filter(access.subtree_q(node, "node", RoleAssignment))
        .values_list("user_id", "user__username").distinct()
    )
    if by == "points":
        values = dict(Entry.objects.filter(account__user_id__in=people, rule__isnull=False, created_at__gte=start,
                                           created_at__lt=end)
                      .values_list("account__user_id").annotate(s=Sum("points")).order_by())
    elif by == "worklogs":
        values = dict(WorkLog.objects.filter(leader_id__in=people, date__range=(first, last))
                      .values_list("leader_id").annotate(n=Count("id")).order_by())
    else:
        values = _satisfied(node, start, end, people)
    names = dict(RoleAssignment.objects.filter(user_id__in=values).values_list("user_id", "user__name"))
    rows = sorted(((v, uid) for uid, v in values.items() if v), key=lambda r: (-r[0], people[r[1]]))
    out, rank, previous = [], 0, None
    for i, (value, uid) in enumerate(rows[:limit], start=1):
        if value != previous:
            rank, previous = i, value
        out.append({"rank": rank, "user": uid, "username": people[uid], "name": names.get(uid) or people[uid], "value": value})
    return out


def _satisfied(node, start, end, people):
    """{user id: issues closed in the period with a satisfied resident, that the user solved}: the
    solver is who resolved it on the spot or reported it done."""
    col = "issue__street_id" if node.level == Level.STREET else "issue__community_id"
    closed = list(IssueEvent.objects.filter(**{col: node.pk}, action="give_feedback", created_at__gte=start,
                                            created_at__lt=end, data__satisfaction="satisfied")
                  .values_list("issue_id", "created_at"))
    if not closed:
        return {}
    solvers = {}
    for issue_id, actor_id, when in (IssueEvent.objects.filter(issue_id__in={i for i, _ in closed},
                                                               action__in=("resolve_on_spot", "submit_done"))
                                     .order_by("created_at", "id").values_list("issue_id", "actor_id", "created_at")):
        solvers.setdefault(issue_id, []).append((when, actor_id))
    counts = Counter()
    for issue_id, when in closed:
        before = [a for t, a in solvers.get(issue_id, ()) if t <= when]
        if before and before[-1] in people:
            counts[before[-1]] += 1
    return dict(counts)


def account_summary(user):
    """{balance, month_points, rank_in_community} for the person's own page."""
    account = Account.objects.filter(user=user).first()
    start, end = month_bounds()
    month_points = (Entry.objects.filter(account__user=user, rule__isnull=False, created_at__gte=start, created_at__lt=end)
                    .aggregate(s=Sum("points"))["s"] or 0)
    home = home_node(user)
    rank = None
    if home is not None:
        for row in rankings(home, current_month(), "points", limit=10_000):
            if row["user"] == user.pk:
                rank = row["rank"]
                break
    return {"balance": account.balance if account else 0, "month_points": month_points, "rank_in_community": rank,
            "community": home.name if home else ""}


def fund_report(fund):
    """Budget, approved, paid and remaining; approved and paid by kind and by community."""
    claims = ExpenseClaim.objects.filter(fund=fund, state__in=(ExpenseClaim.State.APPROVED, ExpenseClaim.State.PAID))
    paid_q = Q(state=ExpenseClaim.State.PAID)
    by_kind = {k: {"approved": a or 0, "paid": p or 0} for k, a, p in
               claims.values_list("kind").annotate(a=Sum("amount"), p=Sum("amount", filter=paid_q)).order_by()}
    names = dict(GridNode.objects.filter(pk__in=claims.values("community_id")).values_list("pk", "name"))
    by_community = [{"community": names.get(c, ""), "approved": a or 0, "paid": p or 0} for c, a, p in
                    claims.values_list("community_id").annotate(a=Sum("amount"), p=Sum("amount", filter=paid_q))
                    .order_by("community_id")]
    return {"budget": fund.budget, "approved": fund.approved, "paid": fund.paid, "remaining": fund.remaining,
            "by_kind": by_kind, "by_community": by_community,
            "submitted": claims.model.objects.filter(fund=fund, state=ExpenseClaim.State.SUBMITTED).aggregate(s=Sum("amount"))["s"] or 0}
