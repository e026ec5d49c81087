"""Every write of the patrols app: plans, patrol records with their findings, work logs, monthly
reports, analysis meetings and the job runs of the monthly cycle.

Findings and meeting decisions reach the ledger only through `issues.services` (issue_report and
issue_transition), so the ledger's workflow stays the one way an issue changes."""

import datetime
import logging
import traceback
from contextlib import contextmanager

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from grid import selectors as grid_selectors
from grid.models import GridNode, Level, Role, RoleAssignment
from grid.services import scope_columns, scope_columns_bulk, tree_lock
from grid.uploads import check_image
from issues import calendar
from issues import services as issue_services
from issues.models import Category

from . import report, signals
from .models import (
    Cadence,
    Decision,
    Finding,
    ItemResult,
    Job,
    JobRun,
    Meeting,
    MonthlyReport,
    Participant,
    Patrol,
    PatrolPlan,
    PlanState,
    Result,
    ResultPhoto,
    Scenario,
    WorkKind,
    WorkLog,
)

log = logging.getLogger(__name__)

MAX_PHOTOS_PER_ITEM = 3
RECORDER_ROLES = (Role.LEADER, Role.SECRETARY, Role.STREET_STAFF, Role.PARTY_BRANCH)
MEETING_ROLES = (Role.SECRETARY, Role.STREET_STAFF)


# --- months and periods -----------------------------------------------------------------------


def parse_month(value, field="month"):
    """'2026-11' → (first day, last day); a clear field error for anything else."""
    try:
        year, month = (int(p) for p in str(value or "").strip().split("-"))
        first = datetime.date(year, month, 1)
    except (TypeError, ValueError):
        raise ValidationError({field: _("Enter a month such as 2026-11.")})
    return first, next_month(first) - datetime.timedelta(days=1)


def next_month(day):
    return (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


def month_label(day):
    return f"{day:%Y-%m}"


def current_month():
    return month_label(timezone.localdate())


def previous_month():
    return month_label(timezone.localdate().replace(day=1) - datetime.timedelta(days=1))


def _window(scenario, start, end):
    """The part of start..end inside the scenario's season, or None."""
    lo = max(start, scenario.starts_on) if scenario.starts_on else start
    hi = min(end, scenario.ends_on) if scenario.ends_on else end
    return (lo, hi) if lo <= hi else None


def periods(scenario, first, last):
    """The (label, start, end) periods of `scenario` that the month first..last plans."""
    if scenario.cadence == Cadence.RANGE:
        if _window(scenario, first, last) is None:
            return []
        return [(f"{scenario.starts_on}~{scenario.ends_on}", scenario.starts_on, scenario.ends_on)]
    if scenario.cadence == Cadence.WEEKLY:
        out, monday = [], first + datetime.timedelta(days=(7 - first.weekday()) % 7)
        while monday <= last:  # the weeks whose Monday falls in the month belong to it
            window = _window(scenario, monday, monday + datetime.timedelta(days=6))
            if window:
                year, week, _day = monday.isocalendar()
                out.append((f"{year}-W{week:02d}", *window))
            monday += datetime.timedelta(days=7)
        return out
    window = _window(scenario, first, last)
    return [(month_label(first), *window)] if window else []


def planned_date(scenario, start, end):
    """The scenario's planned day of the period, moved on to a working day if one is left."""
    day = min(start + datetime.timedelta(days=scenario.planned_day - 1), end)
    days = calendar.workdays(day, end)
    return next((d for d in sorted(days) if days[d]), day)


# --- the monthly plans ------------------------------------------------------------------------


def _conveners(nodes):
    """{community id: the community secretary's active roster line}: the service station that calls
    the patrol together (one query)."""
    lines = RoleAssignment.objects.active().filter(
        role=Role.SECRETARY, node__level=Level.COMMUNITY, node__tree_id__in={n.tree_id for n in nodes}
    ).order_by("node_id", "start", "id")
    out = {}
    for line in lines:
        out.setdefault(line.node_id, line)
    return out


def plans_create(*, month, node=None):
    """The month's plans for every active scenario and every node at its levels (inside `node` when
    given), and `missed` for plans of earlier periods left without a record. Running it again
    creates nothing: plans are unique per scenario, node and period."""
    first, last = parse_month(month)
    with tree_lock(shared=True):
        nodes = GridNode.objects.filter(level__in=(Level.COMMUNITY, Level.COMPOUND))
        if node is not None:
            nodes = nodes.filter(tree_id=node.tree_id, lft__gte=node.lft, rght__lte=node.rght)
        nodes = list(nodes)
        columns = scope_columns_bulk(nodes)
        conveners = _conveners(nodes)
        before = _plans_in(node).count()
        plans = []
        for scenario in Scenario.objects.filter(active=True).order_by("code"):
            levels = set(scenario.levels or ())
            for label, start, end in periods(scenario, first, last):
                day = planned_date(scenario, start, end)
                for n in nodes:
                    if n.level not in levels:
                        continue
                    street_id, community_id = columns[n.pk]
                    plans.append(PatrolPlan(
                        scenario=scenario, node=n, street_id=street_id, community_id=community_id, period=label,
                        period_start=start, period_end=end, planned_date=day, convener=conveners.get(community_id),
                    ))
        PatrolPlan.objects.bulk_create(plans, batch_size=2000, ignore_conflicts=True)
        created = _plans_in(node).count() - before
        missed = _plans_in(node).filter(state=PlanState.PLANNED, period_end__lt=first).update(state=PlanState.MISSED)
    return {"month": month, "created": created, "missed": missed}


def _plans_in(node):
    qs = PatrolPlan.objects.all()
    if node is not None:
        qs = qs.filter(node__tree_id=node.tree_id, node__lft__gte=node.lft, node__rght__lte=node.rght)
    return qs


# --- patrol records ---------------------------------------------------------------------------


def _roles_above(user, node, roles):
    """The roles of `roles` the user holds on `node` or an ancestor (superusers hold them all)."""
    if user.is_superuser:
        return set(roles)
    return set(
        RoleAssignment.objects.active()
        .filter(user=user, role__in=roles, node__tree_id=node.tree_id, node__lft__lte=node.lft, node__rght__gte=node.rght)
        .values_list("role", flat=True)
    )


def can_record(user, plan):
    """Role holders above the plan's place, and leaders of micro-grids inside it (who walk with it)."""
    if not user or not user.is_authenticated:
        return False
    if _roles_above(user, plan.node, RECORDER_ROLES):
        return True
    return RoleAssignment.objects.active().filter(
        user=user, role=Role.LEADER, node__tree_id=plan.node.tree_id,
        node__lft__gt=plan.node.lft, node__rght__lt=plan.node.rght,
    ).exists()


def _date(value, errors, name="date"):
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value or "").strip())
    except ValueError:
        errors[name] = _("Enter a date such as 2026-11-20.")
        return None


def _participants(rows, plan, actor, errors):
    """Participant objects (unsaved) from [{username or name, role}], the recorder included."""
    User = get_user_model()
    out, seen = [], set()
    rows = list(rows or ())
    usernames = {str(r.get("username") or "").strip() for r in rows if isinstance(r, dict)} - {""}
    users = {u.username: u for u in User.objects.filter(username__in=usernames, is_active=True)}
    # Roster people of the plan's street, with their roles there.
    held = {}
    for user_id, role in RoleAssignment.objects.active().filter(
            user__in=users.values(), node__tree_id=plan.node.tree_id).values_list("user_id", "role"):
        held.setdefault(user_id, set()).add(role)
    for i, row in enumerate(rows):
        key = f"participants.{i}"
        if not isinstance(row, dict):
            errors[key] = _("Give a username or a name, and a role.")
            continue
        username = str(row.get("username") or "").strip()
        name = str(row.get("name") or "").strip()
        role = str(row.get("role") or "").strip()
        if username:
            user = users.get(username)
            if user is None or user.pk not in held:
                errors[f"{key}.username"] = _("No one with that username is on this street's roster.")
                continue
            if role and role not in held[user.pk]:
                errors[f"{key}.role"] = _("This person does not hold that role here.")
                continue
            if user.pk in seen:
                continue
            seen.add(user.pk)
            role = role or sorted(held[user.pk])[0]
            out.append(Participant(user=user, name=user.name or user.username, role=role))
        elif name:
            if not role:
                errors[f"{key}.role"] = _("Say in what capacity this person took part (e.g. property company).")
                continue
            if len(name) > 50 or len(role) > 50:
                errors[key] = _("At most %d characters.") % 50
                continue
            out.append(Participant(name=name, role=role))
        else:
            errors[key] = _("Give a username or a name.")
    if actor.pk not in seen:
        roles = _roles_above(actor, plan.node, RECORDER_ROLES) or {Role.LEADER}
        out.insert(0, Participant(user=actor, name=actor.name or actor.username, role=sorted(roles)[0]))
    return out


def _results(rows, plan, errors):
    """(ItemResult objects, {item id: item}): every item of the checklist answered exactly once."""
    items = {i.pk: i for i in plan.scenario.template.items.all()}
    out, answered = [], set()
    for i, row in enumerate(rows or ()):
        key = f"items.{i}"
        item_id = row.get("item") if isinstance(row, dict) else None
        item = items.get(int(item_id)) if str(item_id or "").isdigit() else None
        if item is None:
            errors[f"{key}.item"] = _("Not an item of this checklist.")
            continue
        if item.pk in answered:
            errors[f"{key}.item"] = _("This item is answered twice.")
            continue
        answered.add(item.pk)
        result = str(row.get("result") or "")
        note = str(row.get("note") or "").strip()
        if result not in Result.values:
            errors[f"{key}.result"] = _("Choose fine, problem or not applicable.")
        elif result == Result.PROBLEM and not note:
            errors[f"{key}.note"] = _("Say what the problem is.")
        if len(note) > 500:
            errors[f"{key}.note"] = _("At most %d characters.") % 500
        out.append(ItemResult(item=item, result=result, note=note))
    missing = [items[pk].text for pk in items if pk not in answered]
    if missing and not any(k.startswith("items.") for k in errors):
        errors["items"] = _("Answer every item of the checklist; missing: %s.") % "、".join(missing)
    return out, items


def _findings(rows, plan, actor, items, errors):
    """Checked findings: [{title, description, category, grid, on_spot, note, item, photos}]."""
    allowed = set(plan.scenario.categories.values_list("pk", flat=True))
    node = plan.node
    out = []
    for i, row in enumerate(rows or ()):
        key = f"findings.{i}"
        if not isinstance(row, dict):
            errors[key] = _("Describe the finding.")
            continue
        clean = {"title": str(row.get("title") or "").strip()[:100],
                 "description": str(row.get("description") or "").strip(),
                 "on_spot": row.get("on_spot") in (True, "true", "1", "on", 1),
                 "note": str(row.get("note") or "").strip(), "photos": list(row.get("photos") or ())}
        if not clean["description"]:
            errors[f"{key}.description"] = _("Describe the problem.")
        cat_id = row.get("category")
        cat = Category.objects.filter(pk=cat_id, active=True).first() if str(cat_id or "").isdigit() else None
        if cat is None or (allowed and cat.pk not in allowed):
            errors[f"{key}.category"] = _("Choose one of this scenario's categories.")
        clean["category"] = cat
        grid_id = row.get("grid")
        grid = grid_selectors.visible_nodes(actor).filter(
            pk=grid_id, tree_id=node.tree_id, lft__gte=node.lft, rght__lte=node.rght,
        ).first() if str(grid_id or "").isdigit() else None
        if grid is None:
            errors[f"{key}.grid"] = _("Choose a place inside the patrolled area and your own grid.")
        clean["grid"] = grid
        item_id = row.get("item")
        if item_id not in (None, ""):
            clean["item"] = items.get(int(item_id)) if str(item_id).isdigit() else None
            if clean["item"] is None:
                errors[f"{key}.item"] = _("Not an item of this checklist.")
        else:
            clean["item"] = None
        if clean["on_spot"] and not clean["note"]:
            errors[f"{key}.note"] = _("Say how it was solved on the spot.")
        for photo in clean["photos"]:
            try:
                check_image(photo)
            except ValidationError as e:
                errors[f"{key}.photos"] = e.messages
        out.append(clean)
    return out


def patrol_record(*, actor, plan_id, date, participants=(), items=(), findings=(), note="", photos=None):
    """Record the patrol of a plan: participants, every checklist item's result, and findings, each
    put in the ledger (source `patrol`) and then resolved on the spot or recorded. All or nothing.

    `photos` is {item id: [uploaded images]} for the checklist; a finding carries its own `photos`.
    Raises ValidationError with keys such as `findings.1.grid`, PatrolPlan.DoesNotExist outside the
    actor's scope, PermissionDenied when the actor may not record."""
    from .selectors import visible_plans

    with transaction.atomic():
        plan = (visible_plans(actor).select_for_update(of=("self",))
                .select_related("scenario__template", "node").get(pk=plan_id))
        if not can_record(actor, plan):
            raise PermissionDenied(_("Only role holders of this place record its patrols."))
        errors = {}
        if plan.state != PlanState.PLANNED:
            errors["plan"] = _("This plan is %s; it takes no more records.") % plan.get_state_display()
        day = _date(date, errors)
        if day and not (plan.period_start <= day <= min(plan.period_end, timezone.localdate())):
            errors["date"] = _("The patrol date must lie in the plan's period and not in the future.")
        if len(note or "") > 2000:
            errors["note"] = _("At most %d characters.") % 2000
        people = _participants(participants, plan, actor, errors)
        results, item_map = _results(items, plan, errors)
        finds = _findings(findings, plan, actor, item_map, errors)
        photos = {int(k): list(v) for k, v in (photos or {}).items() if str(k).isdigit()}
        for item_id, files in photos.items():
            if item_id not in item_map:
                errors["photos"] = _("Photos belong to items of this checklist.")
            elif len(files) > MAX_PHOTOS_PER_ITEM:
                errors[f"photos.{item_id}"] = _("At most %d photos.") % MAX_PHOTOS_PER_ITEM
            for f in files:
                try:
                    check_image(f)
                except ValidationError as e:
                    errors[f"photos.{item_id}"] = e.messages
        if errors:
            raise ValidationError(errors)

        patrol = Patrol.objects.create(plan=plan, date=day, recorded_by=actor, note=(note or "").strip())
        for p in people:
            p.patrol = patrol
        Participant.objects.bulk_create(people)
        for r in results:
            r.patrol = patrol
        ItemResult.objects.bulk_create(results)
        by_item = {r.item_id: r for r in results}
        for item_id, files in photos.items():
            for f in files:
                ResultPhoto.objects.create(result=by_item[item_id], image=f)
        for i, f in enumerate(finds):
            try:
                issue = issue_services.issue_report(
                    actor=actor, grid=f["grid"], category=f["category"], title=f["title"],
                    description=f["description"], source="patrol", photos=f["photos"],
                )
                action = "resolve_on_spot" if f["on_spot"] else "record"
                issue, _event = issue_services.issue_transition(
                    issue_id=issue.pk, action=action, actor=actor, version=issue.version, note=f["note"])
            except PermissionDenied as e:  # the ledger's own rules: the recorder's role on that place
                raise ValidationError({f"findings.{i}.grid": str(e)})
            Finding.objects.create(patrol=patrol, issue=issue, item=f["item"], on_spot=f["on_spot"])
        plan.state = PlanState.DONE
        plan.save(update_fields=["state"])
        transaction.on_commit(lambda: signals.patrol_done.send(sender=Patrol, patrol_id=patrol.pk, plan_id=plan.pk))
        return patrol


# --- work logs --------------------------------------------------------------------------------


def worklog_create(*, actor, kind, grid, date=None, household=None, issue=None, note=""):
    """One line of a leader's field work, on one of the micro-grids in the actor's scope."""
    errors = {}
    if kind not in WorkKind.values:
        errors["kind"] = _("Choose a kind of work.")
    if grid is None or grid.level != Level.MICROGRID:
        errors["grid"] = _("Choose a micro-grid.")
    elif not grid_selectors.visible_nodes(actor).filter(pk=grid.pk).exists():
        raise PermissionDenied(_("This place is outside your grid."))
    day = date or timezone.localdate()
    if not isinstance(day, datetime.date):
        day = _date(day, errors)
    if day and day > timezone.localdate():
        errors["date"] = _("Work cannot be logged for a day still to come.")
    if household is not None and grid is not None and household.grid_id != grid.pk:
        errors["household"] = _("This household does not live in that micro-grid.")
    if issue is not None:
        from issues.selectors import visible_issues

        if not visible_issues(actor).filter(pk=issue.pk).exists():
            errors["issue"] = _("Unknown issue.")
    note = (note or "").strip()
    if len(note) > 500:
        errors["note"] = _("At most %d characters.") % 500
    if errors:
        raise ValidationError(errors)
    with tree_lock(shared=True):
        street, community = scope_columns(grid)
        entry = WorkLog.objects.create(leader=actor, kind=kind, date=day, grid=grid, street=street,
                                       community=community, household=household, issue=issue, note=note)
        transaction.on_commit(lambda: signals.work_logged.send(
            sender=WorkLog, worklog_id=entry.pk, kind=entry.kind, leader_id=entry.leader_id))
        return entry


# --- monthly reports --------------------------------------------------------------------------


def report_generate(*, node, month):
    """Build and store the report of a community or a street for a month, replacing an earlier one."""
    if node.level not in (Level.STREET, Level.COMMUNITY):
        raise ValidationError({"node": _("Monthly reports are made for communities and streets.")})
    first, _last = parse_month(month)
    return _report_store(node, first, report.build(node, first))


def _report_store(node, first, data):
    street, community = scope_columns(node)
    for _attempt in range(2):
        try:
            with transaction.atomic():
                obj, _created = MonthlyReport.objects.update_or_create(
                    node=node, month=month_label(first),
                    defaults={"data": data, "generated_at": timezone.now(), "street": street, "community": community},
                )
                return obj
        except IntegrityError:  # two runs created the same report at once: the second updates it
            continue
    raise IntegrityError("monthly report kept colliding")


def reports_generate(*, month, node=None):
    """The month's report of every community (inside `node` when given) and each street's roll-up.
    Each street's facts are read once and cut into its reports."""
    first, _last = parse_month(month)
    if node is not None and node.level > Level.COMMUNITY:
        raise ValidationError({"node": _("Monthly reports are made for communities and streets.")})
    tops = [node] if node is not None else GridNode.objects.filter(level=Level.STREET).order_by("tree_id")
    made = 0
    for top in tops:
        facts = report.Facts(top, first, timezone.now())
        for n in GridNode.objects.filter(tree_id=top.tree_id, lft__gte=top.lft, rght__lte=top.rght,
                                         level__in=(Level.STREET, Level.COMMUNITY)).order_by("lft"):
            _report_store(n, first, facts.report(n))
            made += 1
    return {"month": month, "reports": made}


# --- the analysis meeting ---------------------------------------------------------------------


def meeting_record(*, actor, report_id, held_on, minutes, attendees=(), other_attendees="", decisions=()):
    """The secretary's record of the analysis meeting on a report. A decision about an issue may
    flag it common or difficult (referral to joint analysis) and escalate it to joint disposal, both
    through the ledger's workflow. All or nothing."""
    from .selectors import visible_reports

    with transaction.atomic():
        rep = visible_reports(actor).select_for_update(of=("self",)).select_related("node").get(pk=report_id)
        if not _roles_above(actor, rep.node, MEETING_ROLES):
            raise PermissionDenied(_("The community's secretary or the street staff record the meeting."))
        errors = {}
        if Meeting.objects.filter(report=rep).exists():
            errors["report"] = _("The meeting on this report is recorded already.")
        day = _date(held_on, errors, "held_on")
        if day and day > timezone.localdate():
            errors["held_on"] = _("The meeting cannot be recorded before it is held.")
        minutes = (minutes or "").strip()
        if not minutes:
            errors["minutes"] = _("This field is required.")
        people = list(grid_selectors.visible_users(actor).filter(pk__in=[getattr(a, "pk", a) for a in attendees]))
        if len(people) != len(set(getattr(a, "pk", a) for a in attendees)):
            errors["attendees"] = _("Choose attendees from the roster.")
        if len(other_attendees or "") > 500:
            errors["other_attendees"] = _("At most %d characters.") % 500
        from issues.selectors import visible_issues

        node = rep.node
        planned = []
        for i, row in enumerate(decisions or ()):
            key = f"decisions.{i}"
            text = str(row.get("text") or "").strip()
            if not text:
                errors[f"{key}.text"] = _("This field is required.")
            issue_id = row.get("issue")
            issue = None
            if issue_id not in (None, ""):
                issue = visible_issues(actor).filter(
                    pk=issue_id, grid__tree_id=node.tree_id, grid__lft__gte=node.lft, grid__rght__lte=node.rght,
                ).first() if str(issue_id).isdigit() else None
                if issue is None:
                    errors[f"{key}.issue"] = _("Choose an issue of this report's place.")
            flags = {k: bool(row.get(k)) for k in ("common", "difficult", "escalate")}
            if issue is None and issue_id in (None, "") and any(flags.values()):  # a wrong issue keeps its own error
                errors[f"{key}.issue"] = _("Flagging and escalating need an issue.")
            planned.append((text, issue, flags))
        if errors:
            raise ValidationError(errors)
        meeting = Meeting.objects.create(report=rep, held_on=day, minutes=minutes, other_attendees=other_attendees,
                                         recorded_by=actor)
        meeting.attendees.set(people)
        for i, (text, issue, flags) in enumerate(planned):
            decision = Decision.objects.create(meeting=meeting, text=text, issue=issue, **flags)
            if issue is not None:
                decision.events.set(_decide(actor, issue, text, flags, f"decisions.{i}"))
        return meeting


def _decide(actor, issue, text, flags, key):
    events = []
    try:
        if flags["common"] or flags["difficult"]:
            events.append(issue_services.issue_transition(
                issue_id=issue.pk, action="refer_analysis", actor=actor, note=text,
                common=flags["common"], difficult=flags["difficult"])[1])
        if flags["escalate"]:
            events.append(issue_services.issue_transition(issue_id=issue.pk, action="escalate", actor=actor, note=text)[1])
    except ValidationError as e:
        raise ValidationError({f"{key}.issue": e.messages})
    except PermissionDenied as e:
        raise ValidationError({f"{key}.issue": str(e)})
    return events


# --- job runs ---------------------------------------------------------------------------------


@contextmanager
def _job_run(job, month, node, trigger, attempt):
    run = JobRun.objects.create(job=job, month=month, node=node, trigger=trigger[:30], attempt=attempt)
    try:
        yield run
    except Exception as e:
        log.exception("Job %s for %s failed (attempt %s)", job, month, attempt)
        run.outcome, run.error, run.finished_at = JobRun.Outcome.FAILED, f"{e!r}\n{traceback.format_exc()}"[:5000], timezone.now()
        run.save(update_fields=["outcome", "error", "finished_at"])
        raise
    run.outcome, run.finished_at = JobRun.Outcome.OK, timezone.now()
    run.save(update_fields=["outcome", "result", "finished_at"])


JOBS = {Job.PLANS: plans_create, Job.REPORTS: reports_generate}
DEFAULT_MONTH = {Job.PLANS: current_month, Job.REPORTS: previous_month}


def job_run(*, job, month=None, node=None, trigger="command", attempt=1):
    """Run one monthly job and keep its record (last run and outcome in the admin)."""
    if job not in JOBS:
        raise ValidationError({"job": _("Unknown job.")})
    month = month or DEFAULT_MONTH[job]()
    parse_month(month)
    with _job_run(job, month, node, trigger, attempt) as run:
        run.result = JOBS[job](month=month, node=node)
    return run
