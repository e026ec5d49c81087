"""Every write of the patrols app: plans, patrol records with their findings, work logs, monthly
reports, analysis meetings, and the monthly jobs (registered in `common.jobs` as `patrols.plans` and
`patrols.reports`, so each run leaves a `common.models.JobRun`).

Findings and meeting decisions reach the ledger only through `issues.services` (issue_report and
issue_transition), so the ledger's workflow stays the one way an issue changes. Every error carries
a stable code (`common.errors`); the signals for the apps above go out after the commit, robustly."""

import datetime
import logging

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.translation import gettext as _

from common import hooks, jobs
from common.errors import Denied, Errors, error_code, invalid
from common.periods import current_month, month_label, parse_month, previous_month
from grid import access
from grid import selectors as grid_selectors
from grid.models import GridNode, Level, Role, RoleAssignment
from grid.services import scope_columns, scope_columns_bulk, tree_lock
from grid.uploads import check_image
from issues import calendar
from issues import services as issue_services
from issues.models import Category, Issue

from . import report, signals
from .models import (
    Cadence,
    Decision,
    Finding,
    ItemResult,
    Job,
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
REPORT_LEVELS = (Level.STREET, Level.COMMUNITY)


# --- periods ------------------------------------------------------------------------------------


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


# --- reference data: scenarios and checklists ---------------------------------------------------


def _check_keeper(actor):
    if not access.keeps_reference_data(actor):
        raise Denied(_("Only the street staff keep the scenarios and checklists."), code="not_street_staff")


def scenario_save(*, actor, scenario=None, categories=None, **data):
    """Add or change an application scenario; the next monthly job plans it. `data` are the model's
    fields (`levels` a list of grid levels), `categories` the issue categories its findings may use."""
    _check_keeper(actor)
    scenario = scenario or Scenario()
    for name, value in data.items():
        setattr(scenario, name, value)
    scenario.full_clean()
    with transaction.atomic():
        scenario.save()
        if categories is not None:
            scenario.categories.set(categories)
    return scenario


def scenario_delete(*, actor, scenario):
    """A scenario nobody planned yet (its plans protect it; one no longer wanted is set inactive)."""
    _check_keeper(actor)
    try:
        with transaction.atomic():
            scenario.delete()
    except ProtectedError as e:
        raise invalid("scenario", _("This scenario has plans; set it inactive instead."), "scenario_planned") from e


def checklist_save(*, actor, template, name, items=(), removed=()):
    """Add (`template` unsaved) or change a checklist template: its name, its new and changed items
    (ChecklistItem objects with their group, text and order) and the items `removed`. An item a patrol
    answered cannot go: its results protect it."""
    _check_keeper(actor)
    template.name = name
    template.full_clean()
    with transaction.atomic():
        template.save()
        for item in items:
            if item.pk and item.template_id != template.pk:
                raise invalid("items", _("Not an item of this checklist."), "not_in_checklist")
            item.template = template
            item.full_clean()
            item.save()
        for item in removed:
            if item.template_id != template.pk:
                continue
            try:
                with transaction.atomic():
                    item.delete()
            except ProtectedError as e:
                raise invalid("items", _("An item answered on a patrol cannot be removed."), "item_answered") from e
    return template


def checklist_delete(*, actor, template):
    """A checklist no scenario uses and no patrol answered (those protect it)."""
    _check_keeper(actor)
    try:
        with transaction.atomic():
            template.delete()
    except ProtectedError as e:
        raise invalid("template", _("This checklist is in use or answered on patrols."), "checklist_in_use") from e


# --- the monthly plans ------------------------------------------------------------------------


def _conveners(community_ids):
    """{community id: the community secretary's active roster line}: the service station that calls
    the patrol together (one query)."""
    lines = RoleAssignment.objects.active().filter(
        role=Role.SECRETARY, node_id__in=set(community_ids) - {None}).order_by("node_id", "start", "id")
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
            nodes = nodes.filter(access.subtree_q(node))
        nodes = list(nodes)
        columns = scope_columns_bulk(nodes)
        conveners = _conveners(community for _street, community in columns.values())
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
    return PatrolPlan.objects.all() if node is None else PatrolPlan.objects.subtree(node)


# --- patrol records ---------------------------------------------------------------------------


def can_record(user, plan):
    """Role holders above the plan's place, and leaders of micro-grids inside it (who walk with it)."""
    if not user or not user.is_authenticated:
        return False
    if access.roles_on(user, plan.node, RECORDER_ROLES):
        return True
    return RoleAssignment.objects.active().filter(
        access.below_q(plan.node, "node"), user=user, role=Role.LEADER).exists()


def _date(value, errors, name="date"):
    """A date given as a date (the adapters parse it) or, from older callers, as ISO text."""
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value or "").strip())
    except ValueError:
        errors.add(name, _("Enter a date such as 2026-11-20."), "invalid_date")
        return None


def _too_long(errors, key, value, limit):
    if len(value or "") > limit:
        errors.add(key, _("At most %d characters.") % limit, "too_long")


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
            access.same_street_q(plan.node, "node"), user__in=users.values()).values_list("user_id", "role"):
        held.setdefault(user_id, set()).add(role)
    for i, row in enumerate(rows):
        key = f"participants.{i}"
        if not isinstance(row, dict):
            errors.add(key, _("Give a username or a name, and a role."), "invalid_participant")
            continue
        username = str(row.get("username") or "").strip()
        name = str(row.get("name") or "").strip()
        role = str(row.get("role") or "").strip()
        if username:
            user = users.get(username)
            if user is None or user.pk not in held:
                errors.add(f"{key}.username", _("No one with that username is on this street's roster."),
                           "not_on_roster")
                continue
            if role and role not in held[user.pk]:
                errors.add(f"{key}.role", _("This person does not hold that role here."), "role_not_held")
                continue
            if user.pk in seen:
                continue
            seen.add(user.pk)
            role = role or sorted(held[user.pk])[0]
            out.append(Participant(user=user, name=user.name or user.username, role=role))
        elif name:
            if not role:
                errors.add(f"{key}.role", _("Say in what capacity this person took part (e.g. property company)."),
                           "capacity_required")
                continue
            if len(name) > 50 or len(role) > 50:
                errors.add(key, _("At most %d characters.") % 50, "too_long")
                continue
            out.append(Participant(name=name, role=role))
        else:
            errors.add(key, _("Give a username or a name."), "participant_required")
    if actor.pk not in seen:
        roles = access.roles_on(actor, plan.node, RECORDER_ROLES) or {Role.LEADER}
        out.insert(0, Participant(user=actor, name=actor.name or actor.username, role=sorted(roles)[0]))
    return out


def _results(rows, plan, errors):
    """(ItemResult objects, {item id: item}): every item of the checklist answered exactly once."""
    items = {i.pk: i for i in plan.scenario.template.items.all()}
    out, answered = [], set()
    for i, row in enumerate(rows or ()):
        key = f"items.{i}"
        item = items.get(access.parse_id(row.get("item"))) if isinstance(row, dict) else None
        if item is None:
            errors.add(f"{key}.item", _("Not an item of this checklist."), "not_in_checklist")
            continue
        if item.pk in answered:
            errors.add(f"{key}.item", _("This item is answered twice."), "answered_twice")
            continue
        answered.add(item.pk)
        result = str(row.get("result") or "")
        note = str(row.get("note") or "").strip()
        if result not in Result.values:
            errors.add(f"{key}.result", _("Choose fine, problem or not applicable."), "invalid_result")
        elif result == Result.PROBLEM and not note:
            errors.add(f"{key}.note", _("Say what the problem is."), "problem_note_required")
        _too_long(errors, f"{key}.note", note, 500)
        out.append(ItemResult(item=item, result=result, note=note))
    missing = [items[pk].text for pk in items if pk not in answered]
    if missing and not any(k.startswith("items.") for k in errors.by_field):
        errors.add("items", _("Answer every item of the checklist; missing: %s.") % "、".join(missing), "items_missing")
    return out, items


def _check_photos(errors, key, files):
    for photo in files:
        try:
            check_image(photo)
        except ValidationError as e:
            errors.extend(ValidationError({key: e.error_list}))


def _findings(rows, plan, actor, items, errors):
    """Checked findings: [{title, description, category, grid, on_spot, note, item, photos}]."""
    allowed = set(plan.scenario.categories.values_list("pk", flat=True))
    places = grid_selectors.visible_nodes(actor).filter(access.subtree_q(plan.node))
    out = []
    for i, row in enumerate(rows or ()):
        key = f"findings.{i}"
        if not isinstance(row, dict):
            errors.add(key, _("Describe the finding."), "invalid_finding")
            continue
        clean = {"title": str(row.get("title") or "").strip()[:100],
                 "description": str(row.get("description") or "").strip(),
                 "on_spot": row.get("on_spot") in (True, "true", "1", "on", 1),
                 "note": str(row.get("note") or "").strip(), "photos": list(row.get("photos") or ())}
        if not clean["description"]:
            errors.add(f"{key}.description", _("Describe the problem."), "description_required")
        cat_id = access.parse_id(row.get("category"))
        cat = Category.objects.filter(pk=cat_id, active=True).first() if cat_id else None
        if cat is None or (allowed and cat.pk not in allowed):
            errors.add(f"{key}.category", _("Choose one of this scenario's categories."), "category_not_allowed")
        clean["category"] = cat
        grid_id = access.parse_id(row.get("grid"))
        clean["grid"] = places.filter(pk=grid_id).first() if grid_id else None
        if clean["grid"] is None:
            errors.add(f"{key}.grid", _("Choose a place inside the patrolled area and your own grid."), "place_outside")
        clean["item"] = None
        if row.get("item") not in (None, ""):
            clean["item"] = items.get(access.parse_id(row.get("item")))
            if clean["item"] is None:
                errors.add(f"{key}.item", _("Not an item of this checklist."), "not_in_checklist")
        if clean["on_spot"] and not clean["note"]:
            errors.add(f"{key}.note", _("Say how it was solved on the spot."), "on_spot_note_required")
        _check_photos(errors, f"{key}.photos", clean["photos"])
        out.append(clean)
    return out


def patrol_record(*, actor, plan_id, date, participants=(), items=(), findings=(), note="", photos=None):
    """Record the patrol of a plan: participants, every checklist item's result, and findings, each
    put in the ledger (source `patrol`) and then resolved on the spot or recorded. All or nothing.

    `date` is a date; `photos` is {item id: [uploaded images]} for the checklist; a finding carries its
    own `photos`. Raises ValidationError with keys such as `findings.1.grid` (each with its code),
    PatrolPlan.DoesNotExist outside the actor's scope, Denied (`may_not_record`) when the actor may not
    record. `patrol_done` is sent once the record is committed."""
    from .selectors import visible_plans

    with transaction.atomic():
        plan = (visible_plans(actor).select_for_update(of=("self",))
                .select_related("scenario__template", "node").get(pk=plan_id))
        if not can_record(actor, plan):
            raise Denied(_("Only role holders of this place record its patrols."), code="may_not_record")
        errors = Errors()
        if plan.state != PlanState.PLANNED:
            errors.add("plan", _("This plan is %s; it takes no more records.") % plan.get_state_display(), "plan_closed")
        day = _date(date, errors)
        if day and not (plan.period_start <= day <= min(plan.period_end, timezone.localdate())):
            errors.add("date", _("The patrol date must lie in the plan's period and not in the future."),
                       "date_outside_period")
        _too_long(errors, "note", note, 2000)
        people = _participants(participants, plan, actor, errors)
        results, item_map = _results(items, plan, errors)
        finds = _findings(findings, plan, actor, item_map, errors)
        photos = {access.parse_id(k): list(v) for k, v in (photos or {}).items() if access.parse_id(k)}
        for item_id, files in photos.items():
            if item_id not in item_map:
                errors.add("photos", _("Photos belong to items of this checklist."), "photo_not_of_checklist")
            elif len(files) > MAX_PHOTOS_PER_ITEM:
                errors.add(f"photos.{item_id}", _("At most %d photos.") % MAX_PHOTOS_PER_ITEM, "too_many_photos")
            _check_photos(errors, f"photos.{item_id}", files)
        errors.raise_if_any()

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
                raise invalid(f"findings.{i}.grid", str(e), error_code(e, "ledger_refused")) from e
            Finding.objects.create(patrol=patrol, issue=issue, item=f["item"], on_spot=f["on_spot"])
        plan.state = PlanState.DONE
        plan.save(update_fields=["state"])
        hooks.send_on_commit(signals.patrol_done, sender=Patrol, patrol_id=patrol.pk, plan_id=plan.pk)
        return patrol


# --- work logs --------------------------------------------------------------------------------


def worklog_create(*, actor, kind, grid, date=None, household=None, issue=None, note=""):
    """One line of a leader's field work, on one of the micro-grids in the actor's scope. `grid`,
    `household` and `issue` are objects the adapter has read from the actor's scope; `date` a date.
    `work_logged` is sent once the line is committed."""
    errors = Errors()
    if kind not in WorkKind.values:
        errors.add("kind", _("Choose a kind of work."), "invalid_kind")
    if grid is None or grid.level != Level.MICROGRID:
        errors.add("grid", _("Choose a micro-grid."), "not_a_microgrid")
    elif not grid_selectors.visible_nodes(actor).filter(pk=grid.pk).exists():
        raise Denied(_("This place is outside your grid."), code="outside_scope")
    day = date or timezone.localdate()
    if not isinstance(day, datetime.date):
        day = _date(day, errors)
    if day and day > timezone.localdate():
        errors.add("date", _("Work cannot be logged for a day still to come."), "date_in_future")
    if household is not None and grid is not None and household.grid_id != grid.pk:
        errors.add("household", _("This household does not live in that micro-grid."), "household_not_in_grid")
    if issue is not None:
        from issues.selectors import visible_issues

        if not visible_issues(actor).filter(pk=issue.pk).exists():
            errors.add("issue", _("Unknown issue."), "unknown_issue")
    note = (note or "").strip()
    _too_long(errors, "note", note, 500)
    errors.raise_if_any()
    with tree_lock(shared=True):
        street, community = scope_columns(grid)
        entry = WorkLog.objects.create(leader=actor, kind=kind, date=day, grid=grid, street=street,
                                       community=community, household=household, issue=issue, note=note)
        hooks.send_on_commit(signals.work_logged, sender=WorkLog, worklog_id=entry.pk, kind=entry.kind,
                             leader_id=entry.leader_id)
        return entry


# --- monthly reports --------------------------------------------------------------------------


def _report_node(node):
    if node.level not in REPORT_LEVELS:
        raise invalid("node", _("Monthly reports are made for communities and streets."), "report_node_level")


def report_generate(*, node, month):
    """Build and store the report of a community or a street for a month, replacing an earlier one."""
    _report_node(node)
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
    if node is not None:
        _report_node(node)
    tops = [node] if node is not None else GridNode.objects.filter(level=Level.STREET).order_by(*access.tree_order())
    made = 0
    for top in tops:
        facts = report.Facts(top, first, timezone.now())
        for n in GridNode.objects.filter(access.subtree_q(top), level__in=REPORT_LEVELS).order_by(*access.tree_order()):
            _report_store(n, first, facts.report(n))
            made += 1
    return {"month": month, "reports": made}


# --- the analysis meeting ---------------------------------------------------------------------


def meeting_record(*, actor, report_id, held_on, minutes, attendees=(), other_attendees="", decisions=()):
    """The secretary's record of the analysis meeting on a report. A decision about an issue may
    flag it common or difficult (referral to joint analysis) and escalate it to joint disposal, both
    through the ledger's workflow. All or nothing.

    `held_on` is a date; `attendees` users (or their ids); each decision {text, issue (an id), common,
    difficult, escalate}. Errors of a decision come back under `decisions.<n>.<field>`."""
    from issues.selectors import visible_issues

    from .selectors import visible_reports

    with transaction.atomic():
        rep = visible_reports(actor).select_for_update(of=("self",)).select_related("node").get(pk=report_id)
        if not access.roles_on(actor, rep.node, MEETING_ROLES):
            raise Denied(_("The community's secretary or the street staff record the meeting."),
                         code="may_not_record_meeting")
        errors = Errors()
        if Meeting.objects.filter(report=rep).exists():
            errors.add("report", _("The meeting on this report is recorded already."), "meeting_recorded")
        day = _date(held_on, errors, "held_on")
        if day and day > timezone.localdate():
            errors.add("held_on", _("The meeting cannot be recorded before it is held."), "date_in_future")
        minutes = (minutes or "").strip()
        if not minutes:
            errors.add("minutes", _("This field is required."), "required")
        wanted = {getattr(a, "pk", a) for a in attendees}
        people = list(grid_selectors.visible_users(actor).filter(pk__in=wanted))
        if len(people) != len(wanted):
            errors.add("attendees", _("Choose attendees from the roster."), "attendee_not_on_roster")
        _too_long(errors, "other_attendees", other_attendees, 500)
        in_place = visible_issues(actor).filter(access.subtree_q(rep.node, "grid", Issue))
        planned = []
        for i, row in enumerate(decisions or ()):
            key = f"decisions.{i}"
            text = str(row.get("text") or "").strip()
            if not text:
                errors.add(f"{key}.text", _("This field is required."), "required")
            issue_id = row.get("issue")
            issue = None
            if issue_id not in (None, ""):
                pk = access.parse_id(issue_id)
                issue = in_place.filter(pk=pk).first() if pk else None
                if issue is None:
                    errors.add(f"{key}.issue", _("Choose an issue of this report's place."), "issue_outside_report")
            flags = {k: bool(row.get(k)) for k in ("common", "difficult", "escalate")}
            if issue is None and issue_id in (None, "") and any(flags.values()):  # a wrong issue keeps its own error
                errors.add(f"{key}.issue", _("Flagging and escalating need an issue."), "issue_required")
            planned.append((text, issue, flags))
        errors.raise_if_any()
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
    except ValidationError as e:  # the ledger's refusal lands on the decision's issue, with its codes
        parts = [err for errs in e.error_dict.values() for err in errs] if hasattr(e, "error_dict") else e.error_list
        raise ValidationError({f"{key}.issue": [ValidationError(m, code=error_code(err, "ledger_refused"))
                                                for err in parts for m in err.messages]}) from e
    except PermissionDenied as e:
        raise invalid(f"{key}.issue", str(e), error_code(e, "ledger_refused")) from e
    return events


# --- the monthly jobs -------------------------------------------------------------------------


def job_run(*, job, month=None, node=None, trigger="command", attempt=1):
    """Run one of the monthly jobs (`Job.PLANS`, `Job.REPORTS`) through `common.jobs`, which keeps its
    JobRun (last run and outcome in the admin); returns the run."""
    return jobs.run(job, trigger=trigger, attempt=attempt, month=month, node=node)


def jobs_register():
    """The monthly jobs in the house's registry (from PatrolsConfig.ready): plans for this month,
    reports for last month, each run by its Celery task from the beat, a command or the admin (for a
    street or community of the user's, `selectors.job_place`)."""
    from .selectors import job_place

    jobs.register(Job.PLANS.value, Job.PLANS.label, plans_create, monthly=True, default_month=current_month,
                  task="patrols.tasks.monthly_plans")
    jobs.register(Job.REPORTS.value, Job.REPORTS.label, reports_generate, monthly=True, default_month=previous_month,
                  task="patrols.tasks.monthly_reports")
    for job in Job:
        jobs.place_picker(job.value, job_place)
