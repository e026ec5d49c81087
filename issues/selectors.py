"""Reads of the ledger, always scoped to a user; and the one timeline of an issue."""

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from grid import access
from grid.models import Organisation, Role, RoleAssignment

from . import workflow
from .models import FeedbackChannel, Issue, Notification, Satisfaction, Source, State


def handler_orgs(user):
    """The property companies whose issues a user handles (as their staff)."""
    return list(
        RoleAssignment.objects.active().filter(user=user, role=Role.PROPERTY_STAFF).values_list("organisation_id", flat=True)
    )


MAX_NAMED = 500


def visible_issues(user, queryset=None):
    """Issues in the user's scope, plus — for property-company staff and named handlers — those
    assigned to their company or to them, wherever they are. Also `Issue.objects.restrict(user)`."""
    qs = Issue.objects.all() if queryset is None else queryset
    if not user or not user.is_authenticated:
        return qs.none()
    q = access.scope_q(Issue, user, via=Issue.scope_via)
    if q is None:
        return qs
    orgs = handler_orgs(user)
    theirs = Q(handler_user=user) | Q(handler_org_id__in=orgs) if orgs else Q(handler_user=user)
    if not access.scope_roots(user):
        return qs.filter(theirs)
    # What is theirs outside their scope is rare and small: naming those rows keeps the scope filter
    # a plain indexed one (an OR with another column would make the database scan the ledger).
    outside = list(Issue.objects.filter(theirs).exclude(q).values_list("pk", flat=True)[:MAX_NAMED + 1])
    if len(outside) > MAX_NAMED:  # a company's whole ledger: let the database take the subquery
        outside = Issue.objects.filter(theirs).values("pk")
    return qs.filter(q | Q(pk__in=outside)) if outside else qs.filter(q)


def issue_list(user):
    return visible_issues(user).select_related("category", "grid", "handler_org", "handler_user")


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


def visible_notifications(user):
    """The outbox a user sees: messages about the issues they see, and their own."""
    qs = Notification.objects.all()
    if access.scope_roots(user) is None:
        return qs
    return qs.filter(Q(issue_id__in=visible_issues(user).values("pk")) | Q(recipient=user))


# --- the timeline ------------------------------------------------------------------------------

# What a resident reads for each action of the ledger. Actions missing here are the office's own
# business (supervision cards, extension requests and decisions) and stay off the public timeline.
PUBLIC_ACTIONS = {
    "report": gettext_lazy("Reported"),
    "resolve_on_spot": gettext_lazy("Solved on the spot"),
    "record": gettext_lazy("Recorded in the ledger"),
    "assign": gettext_lazy("Assigned for handling"),
    "submit_done": gettext_lazy("Work done, waiting for a check"),
    "verify": gettext_lazy("Checked and resolved"),
    "reject": gettext_lazy("Check failed, handled again"),
    "return": gettext_lazy("Sent back for another decision"),
    "refer_analysis": gettext_lazy("Referred to the monthly joint analysis"),
    "escalate": gettext_lazy("Escalated to the community party committee"),
    "declare_unresolvable": gettext_lazy("Declared unresolvable, with a public announcement"),
    "give_feedback": gettext_lazy("Feedback given"),
    "reopen": gettext_lazy("Reopened"),
    "merge": gettext_lazy("Merged with a report of the same problem"),
}

# How a fact of an event's data is named, in the order the timeline shows them.
FACT_LABELS = {
    "source": Issue._meta.get_field("source").verbose_name,
    "handler_org": Issue._meta.get_field("handler_org").verbose_name,
    "handler_user": Issue._meta.get_field("handler_user").verbose_name,
    "plan": Issue._meta.get_field("plan").verbose_name,
    "due": Issue._meta.get_field("due_at").verbose_name,
    "until": gettext_lazy("extend until"),
    "approve": gettext_lazy("decision"),
    "channel": gettext_lazy("how the resident was told"),
    "satisfaction": gettext_lazy("resident's satisfaction"),
    "text": gettext_lazy("what the resident was told"),
    "reason": gettext_lazy("reason"),
    "flags": gettext_lazy("flagged"),
    "announcement": Issue._meta.get_field("announcement").verbose_name,
    "into": Issue._meta.get_field("merged_into").verbose_name,
}


def _local(value):
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is None:
        return ""
    return date_format(timezone.localtime(value) if timezone.is_aware(value) else value, "Y-m-d H:i")


def _names(events):
    """The names behind the references in the events' data, in at most three queries: companies and
    merge targets by id, people by username (older events may hold their id)."""
    refs = {"handler_org": set(), "handler_user": set(), "into": set()}
    for e in events:
        for key, found in refs.items():
            value = (e.data or {}).get(key)
            if isinstance(value, (int, str)) and not isinstance(value, bool) and value != "":
                found.add(value)
    names = {key: {} for key in refs}
    ints = {key: [v for v in values if isinstance(v, int)] for key, values in refs.items()}
    if ints["handler_org"]:
        names["handler_org"] = dict(Organisation.objects.filter(pk__in=ints["handler_org"]).values_list("pk", "name"))
    if refs["handler_user"]:
        usernames = [v for v in refs["handler_user"] if isinstance(v, str)]
        for user in get_user_model().objects.filter(Q(pk__in=ints["handler_user"]) | Q(username__in=usernames)):
            names["handler_user"][user.pk] = names["handler_user"][user.username] = str(user)
    if ints["into"]:
        names["into"] = dict(Issue.objects.filter(pk__in=ints["into"]).values_list("pk", "number"))
    return names


def _facts(event, names):
    """[(label, text)] of an event's data worth reading: names instead of ids, choices by their
    labels, times in local time; the texts the note already shows are left out."""
    d, facts = event.data or {}, {}
    channels, satisfaction, sources = dict(FeedbackChannel.choices), dict(Satisfaction.choices), dict(Source.choices)
    for key in ("handler_org", "handler_user", "into"):
        if d.get(key) not in (None, ""):
            facts[key] = names[key].get(d[key], "?")
    if d.get("source"):
        facts["source"] = sources.get(d["source"], d["source"])
    for key in ("plan", "announcement", "text", "reason"):
        if d.get(key) and d[key] != event.note:
            facts[key] = d[key]
    for key in ("due", "until"):
        if d.get(key):
            facts[key] = _local(d[key])
    if "approve" in d:
        facts["approve"] = _("approved") if d["approve"] else _("refused")
    if d.get("channel"):
        facts["channel"] = channels.get(d["channel"], d["channel"])
    if d.get("satisfaction"):
        facts["satisfaction"] = satisfaction.get(d["satisfaction"], d["satisfaction"])
    if d.get("common") or d.get("difficult"):
        flags = [str(x) for x, on in ((_("common"), d.get("common")), (_("difficult"), d.get("difficult"))) if on]
        facts["flags"] = pgettext("list separator", ", ").join(flags)
    return [(str(FACT_LABELS[key]), facts[key]) for key in FACT_LABELS if key in facts]


def _actor(event):
    if event.actor_id:
        return str(event.actor)
    return _("a resident") if event.action == "report" else _("the system")


def _state_label(value):
    return str(State(value).label) if value in State.values else ""


def timeline(issue, public=False):
    """The timeline of one issue, oldest first: the one shape the admin, the mobile page and the
    public tracking page render (through templates/issues/_timeline.html).

    Staff rows: {action, label, at, event, from, to, moved, actor, note, data: [(label, text)],
    photos}. Public rows (a resident's tracking page): {action, label, at} only, for the actions a
    resident reads: no names, phones, notes or internal steps."""
    if public:
        events = issue.events.filter(action__in=list(PUBLIC_ACTIONS)).order_by("created_at", "id")
        return [{"action": e["action"], "label": PUBLIC_ACTIONS[e["action"]], "at": e["created_at"]}
                for e in events.values("action", "created_at")]
    events = list(issue.events.select_related("actor").prefetch_related("photos").order_by("created_at", "id"))
    names = _names(events)
    return [
        {
            "action": e.action,
            "label": workflow.ACTION_LABELS.get(e.action, e.action),
            "at": e.created_at,
            "event": e,
            "from": _state_label(e.from_state),
            "to": _state_label(e.to_state),
            "moved": bool(e.from_state) and e.from_state != e.to_state,
            "actor": _actor(e),
            "note": e.note,
            "data": _facts(e, names),
            "photos": list(e.photos.all()),
        }
        for e in events
    ]
