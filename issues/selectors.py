"""Reads of the ledger, always scoped to a user."""

from django.db.models import Q

from grid.models import Role, RoleAssignment
from grid.selectors import scope_q, scope_roots

from .models import Issue, IssueEvent, State


def handler_orgs(user):
    """The property companies whose issues a user handles (as their staff)."""
    return list(
        RoleAssignment.objects.active().filter(user=user, role=Role.PROPERTY_STAFF).values_list("organisation_id", flat=True)
    )


MAX_NAMED = 500


def visible_issues(user):
    """Issues in the user's scope, plus — for property-company staff and named handlers — those
    assigned to their company or to them, wherever they are."""
    if not user or not user.is_authenticated:
        return Issue.objects.none()
    q = scope_q(Issue, user, via="grid")
    if q is None:
        return Issue.objects.all()
    orgs = handler_orgs(user)
    theirs = Q(handler_user=user) | Q(handler_org_id__in=orgs) if orgs else Q(handler_user=user)
    if not scope_roots(user):
        return Issue.objects.filter(theirs)
    # What is theirs outside their scope is rare and small: naming those rows keeps the scope filter
    # a plain indexed one (an OR with another column would make the database scan the ledger).
    outside = list(Issue.objects.filter(theirs).exclude(q).values_list("pk", flat=True)[:MAX_NAMED + 1])
    if len(outside) > MAX_NAMED:  # a company's whole ledger: let the database take the subquery
        outside = Issue.objects.filter(theirs).values("pk")
    return Issue.objects.filter(q | Q(pk__in=outside)) if outside else Issue.objects.filter(q)


def issue_list(user):
    return visible_issues(user).select_related("category", "grid", "handler_org", "handler_user")


def issue_events(user, issue_id):
    issue = visible_issues(user).get(pk=issue_id)
    return IssueEvent.objects.filter(issue=issue).select_related("actor").order_by("created_at", "id")


def public_events(issue):
    """What a resident's tracking page shows: actions and times, no names or internal notes."""
    return issue.events.order_by("created_at", "id").values("action", "to_state", "created_at")


def announcements(community):
    return Issue.objects.filter(
        community=community, announced_at__isnull=False
    ).select_related("category").order_by("-announced_at")


def queue(user, name):
    """The mobile queues: `secretary` (to assign, verify, decide extensions), `handler` (to do)."""
    qs = issue_list(user)
    if name == "secretary":
        return qs.filter(
            Q(state__in=[State.RECORDED, State.VERIFYING, State.ANALYSIS, State.DISPOSAL])
            | Q(state=State.HANDLING, extension_until__isnull=False)
        ).order_by("due_at", "reported_at")
    if name == "handler":
        return qs.filter(Q(handler_user=user) | Q(handler_org_id__in=handler_orgs(user)), state=State.HANDLING).order_by("due_at")
    if name == "leader":
        return qs.filter(state__in=[State.REPORTED, State.RESOLVED, State.UNRESOLVABLE]).order_by("reported_at")
    raise ValueError(name)
