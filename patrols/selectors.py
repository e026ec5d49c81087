"""Reads of the patrols app, always scoped to a user."""

from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from common.errors import invalid
from grid import access
from grid.models import GridNode, Level

from .models import MonthlyReport, Patrol, PatrolPlan, WorkKind, WorkLog


def _around(user, levels, field="node"):
    """Rows at the communities or compounds that contain the user's own places: a leader walks the
    patrols of their compound and community and reads their community's report."""
    roots = access.scope_roots(user) or []
    if not roots:
        return Q(pk__in=[])
    q = Q(pk__in=[])
    for r in roots:
        q |= access.ancestors_q(r, strict=True)
    return Q(**{f"{field}_id__in": GridNode.objects.filter(q, level__in=levels).values("pk")})


def visible_plans(user):
    if not user or not user.is_authenticated:
        return PatrolPlan.objects.none()
    q = access.scope_q(PatrolPlan, user, via=PatrolPlan.scope_via)
    if q is None:
        return PatrolPlan.objects.all()
    return PatrolPlan.objects.filter(q | _around(user, (Level.COMMUNITY, Level.COMPOUND)))


def plan_list(user):
    return visible_plans(user).select_related("scenario", "node", "convener__user")


def my_plans(user, on=None):
    """The plans of the current period that the user can walk: still planned or done this period."""
    on = on or timezone.localdate()  # Shanghai's day, not the server's
    return plan_list(user).filter(period_start__lte=on, period_end__gte=on).order_by("planned_date", "node__code")


def visible_patrols(user):
    return Patrol.objects.filter(plan__in=visible_plans(user).values("pk"))


def visible_worklogs(user):
    if not user or not user.is_authenticated:
        return WorkLog.objects.none()
    q = access.scope_q(WorkLog, user, via=WorkLog.scope_via)
    if q is None:
        return WorkLog.objects.all()
    return WorkLog.objects.filter(q | Q(leader=user))


def visible_reports(user):
    if not user or not user.is_authenticated:
        return MonthlyReport.objects.none()
    q = access.scope_q(MonthlyReport, user, via=MonthlyReport.scope_via)
    if q is None:
        return MonthlyReport.objects.all()
    return MonthlyReport.objects.filter(q | _around(user, (Level.COMMUNITY,)))


def work_profile(leader, start, end, logs=None):
    """A leader's field work from start to end inclusive: {kind: count} for every kind, the total,
    and the patrols they took part in (the seed's "38 errands, 86 mediations, 33 hazard checks")."""
    logs = WorkLog.objects.all() if logs is None else logs
    counts = dict(
        logs.filter(leader=leader, date__range=(start, end)).values_list("kind").annotate(n=Count("id")).order_by()
    )
    by_kind = {k: counts.get(k, 0) for k in WorkKind.values}
    patrols = Patrol.objects.filter(participants__user=leader, date__range=(start, end)).count()
    return {"by_kind": by_kind, "total": sum(by_kind.values()), "patrols": patrols}


def job_place(user, code):
    """The street or community a monthly job is run for from the admin (the place picker of the
    `patrols.*` jobs in common.jobs): the one with `code` in the user's area; with no code, the user's
    whole area when it is one street or community (None, every street, for an administrator)."""
    visible = access.restrict(GridNode.objects.all(), user)
    code = (code or "").strip()
    if code:
        node = visible.filter(code=code, level__lte=Level.COMMUNITY).first()
        if node is None:
            raise invalid("node", _("No street or community with this code in your area."), "place_not_in_area")
        return node
    roots = access.scope_roots(user)
    if roots is None:
        return None
    areas = [r for r in roots if r.level <= Level.COMMUNITY]
    if len(areas) != 1 or len(roots) != 1:
        raise invalid("node", _("Give the code of a street or community of yours."), "place_required")
    return visible.get(pk=areas[0].node_id)
