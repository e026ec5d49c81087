"""Points that follow from what happens in the ledger and on patrols. The lower apps send their
domain signals on commit, robustly (common.hooks.send_on_commit): a handler that fails is logged and
never changes the answer of the action. Each answer here awards under a stable source key, so a
replayed event awards nothing twice and `replay()` repairs what a failure skipped."""

from django.contrib.auth import get_user_model

from issues.models import Issue, IssueEvent
from patrols.models import Patrol, WorkKind, WorkLog

from . import services

SOLVING = ("resolve_on_spot", "submit_done")
WORK_RULES = {WorkKind.MEDIATION: "mediation_logged", WorkKind.ERRAND: "errand_logged",
              WorkKind.HAZARD_CHECK: "hazard_logged"}


def _solver_id(issue_id, before_event):
    """Who solved the issue in the cycle that ended with `before_event`: the last person to resolve
    it on the spot or report it done."""
    return (IssueEvent.objects.filter(issue_id=issue_id, action__in=SOLVING, id__lt=before_event.pk)
            .order_by("-created_at", "-id").values_list("actor_id", flat=True).first())


def _user(user_id):
    return get_user_model().objects.filter(pk=user_id, is_active=True).first() if user_id else None


def on_issue_event(sender=None, *, issue_id, event_id, action, to_state, **kwargs):
    event = IssueEvent.objects.filter(pk=event_id).select_related("issue").first()
    if event is None:
        return
    key = f"issue:{issue_id}:{{}}:{event_id}"
    if action == "resolve_on_spot":
        services.points_award(user=event.actor, rule="resolved_on_spot", source=key.format("resolved_on_spot"))
    elif action == "give_feedback" and event.data.get("satisfaction") == "satisfied":
        services.points_award(user=_user(_solver_id(issue_id, event)), rule="closed_satisfied",
                              source=key.format("closed_satisfied"))
    elif action == "reopen":
        services.points_award(user=_user(_solver_id(issue_id, event)), rule="reopened", source=key.format("reopened"))
    elif action == "red_card":
        services.points_award(user=event.issue.handler_user, rule="red_card", source=key.format("red_card"))
    elif action == "merge":
        # A duplicate of the reporter's own earlier report: the same person reported it twice.
        issue = event.issue
        target = Issue.objects.filter(pk=issue.merged_into_id).values_list("reporter_id", flat=True).first()
        if issue.reporter_id and issue.reporter_id == target:
            services.points_award(user=issue.reporter, rule="duplicate_own_report", source=key.format("duplicate_own_report"))


def on_patrol_done(sender=None, *, patrol_id, **kwargs):
    patrol = Patrol.objects.filter(pk=patrol_id).first()
    if patrol is None:
        return
    for p in patrol.participants.filter(user__isnull=False).select_related("user"):
        services.points_award(user=p.user, rule="patrol_attended", source=f"patrol:{patrol_id}:attended:{p.user_id}")


def on_work_logged(sender=None, *, worklog_id, kind, leader_id, **kwargs):
    rule = WORK_RULES.get(kind)
    entry = WorkLog.objects.filter(pk=worklog_id).select_related("leader").first()
    if rule and entry is not None:
        services.points_award(user=entry.leader, rule=rule, source=f"worklog:{worklog_id}:{rule}")


def replay(since=None):
    """Send every past domain event through the handlers again (after a rule was switched on, or to
    prove idempotence). Awards already made stay as they are."""
    events = IssueEvent.objects.order_by("id")
    patrols = Patrol.objects.order_by("id")
    logs = WorkLog.objects.order_by("id")
    if since is not None:
        events, patrols, logs = events.filter(created_at__gte=since), patrols.filter(created_at__gte=since), logs.filter(created_at__gte=since)
    for e in events.values("issue_id", "id", "action", "to_state").iterator():
        on_issue_event(issue_id=e["issue_id"], event_id=e["id"], action=e["action"], to_state=e["to_state"])
    for pk in patrols.values_list("pk", flat=True).iterator():
        on_patrol_done(patrol_id=pk)
    for pk, kind, leader_id in logs.values_list("pk", "kind", "leader_id").iterator():
        on_work_logged(worklog_id=pk, kind=kind, leader_id=leader_id)


def connect():
    from issues.signals import issue_event
    from patrols.signals import patrol_done, work_logged

    issue_event.connect(on_issue_event, dispatch_uid="incentives.issue_event")
    patrol_done.connect(on_patrol_done, dispatch_uid="incentives.patrol_done")
    work_logged.connect(on_work_logged, dispatch_uid="incentives.work_logged")
