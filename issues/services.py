"""Every write to the ledger. `issue_transition` is the only way an issue's state changes.

Errors carry a stable code beside the translated message (common.errors): a ValidationError per
field, `Denied` for a role that may not act, `IssueConflict` (code `stale_version`) when someone else
acted first, `Issue.DoesNotExist` outside the actor's scope. Adapters (API serializers, forms) parse
ids and times before calling; the services still read the plain values other callers pass."""

import datetime
import logging
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from common.errors import Conflict, Denied, Errors, invalid
from common.hooks import send_on_commit
from grid import access
from grid.models import Organisation, Role, RoleAssignment
from grid.services import scope_columns, tree_lock
from grid.uploads import check_image

from . import calendar, notifications, signals, workflow
from .models import (
    DeadlineUnit,
    FeedbackChannel,
    Issue,
    IssueCounter,
    IssueEvent,
    IssuePhoto,
    Notification,
    Satisfaction,
    Source,
    State,
    Supervision,
)

log = logging.getLogger(__name__)

MAX_PHOTOS = 6
TRACKING_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud over the phone
FEEDBACK_CHANNELS = tuple(FeedbackChannel.values)
SATISFACTION = tuple(Satisfaction.values)
TEXT_LIMIT = 2000


class IssueConflict(Conflict):
    """Someone else changed the issue since the caller read it (HTTP 409)."""

    default_code = "stale_version"


# --- reporting --------------------------------------------------------------------------------


def _next_number(street, when):
    month = timezone.localtime(when).strftime("%Y%m")
    for _attempt in range(3):
        try:
            with transaction.atomic():
                counter, _created = IssueCounter.objects.select_for_update().get_or_create(street=street, month=month)
                IssueCounter.objects.filter(pk=counter.pk).update(last=F("last") + 1)
                counter.refresh_from_db(fields=["last"])
                return f"{street.code}-{month}-{counter.last:05d}"
        except IntegrityError:  # two first reports of a month raced to create the counter
            continue
    raise IssueConflict(_("Too many reports at once; please send it again."), code="numbering_busy")


def _tracking_code():
    return "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(10))


def _check_photos(photos):
    photos = list(photos or ())
    if len(photos) > MAX_PHOTOS:
        raise invalid("photos", _("At most %d photos.") % MAX_PHOTOS, "too_many_photos")
    for photo in photos:
        try:
            check_image(photo)
        except ValidationError as e:
            raise ValidationError({"photos": e.error_list})  # the upload check's own codes
    return photos


def _save_photos(issue, event, photos):
    for photo in photos:
        IssuePhoto.objects.create(issue=issue, event=event, image=photo)


def issue_report(*, actor=None, grid, category, description, source, title="", location="",
                 reporter_name="", reporter_phone="", priority="normal", photos=()):
    """Put a new problem in the ledger, state `reported`. `actor` None means a resident (public page).

    The source says how the report reached the ledger: `resident` is the residents' own page (no
    account, a tracking code handed out) and only theirs; a logged-in reporter records how a resident's
    report reached them (visit, hotline, patrol, other)."""
    errors = Errors()
    if actor is not None and access.visible_node(actor, grid.pk) is None:
        raise Denied(_("This place is outside your grid."), code="outside_scope")
    if actor is None and source != Source.RESIDENT:
        errors.add("source", _("Only residents report without an account."), "source_not_allowed")
    if actor is not None and source == Source.RESIDENT:
        errors.add("source", _("Residents report through the public page of their micro-grid; record how the "
                               "report reached you (visit, hotline, patrol or other)."), "source_not_allowed")
    if not category.active:
        errors.add("category", _("This category is no longer in use."), "category_inactive")
    limit = Issue._meta.get_field("description").max_length
    if not description.strip():
        errors.add("description", _("Describe the problem."), "description_required")
    elif len(description) > limit:
        errors.add("description", _("At most %d characters.") % limit, "max_length")
    errors.raise_if_any()
    photos = _check_photos(photos)
    title = (title or "").strip() or f"{category.name}：{description.strip()[:40]}"
    with tree_lock(shared=True):
        street, community = scope_columns(grid)
        now = timezone.now()
        issue = Issue(
            number=_next_number(street, now), tracking_code=_tracking_code(), title=title[:100],
            description=description.strip(), category=category, grid=grid, street=street, community=community,
            location=location, source=source, priority=priority, reporter=actor,
            reporter_name=reporter_name.strip(), reporter_phone=reporter_phone.strip(),
            reported_at=now, updated_at=now,
        )
        issue.full_clean(exclude=["number", "tracking_code", "street", "community"])
        issue.save()
        event = IssueEvent.objects.create(
            issue=issue, action="report", from_state="", to_state=State.REPORTED, actor=actor, created_at=now,
            data={"source": source},
        )
        _save_photos(issue, event, photos)
        _after_commit(issue, event)
        return issue


# --- the workflow -----------------------------------------------------------------------------


def actor_roles(actor, issue):
    """The roles `actor` holds on the issue's node or any ancestor, plus HANDLER when it is theirs."""
    if actor is None:
        return {workflow.SYSTEM}
    roles = access.roles_on(actor, issue.grid)
    if is_handler(actor, issue):
        roles.add(workflow.HANDLER)
    return roles


def is_handler(user, issue):
    if user is None:
        return False
    if issue.handler_user_id and issue.handler_user_id == user.pk:
        return True
    return bool(issue.handler_org_id) and RoleAssignment.objects.active().filter(
        user=user, role=Role.PROPERTY_STAFF, organisation_id=issue.handler_org_id
    ).exists()


def allowed_actions(actor, issue):
    """The actions `actor` may take on `issue` now (for buttons and the API)."""
    roles = actor_roles(actor, issue)
    return [
        a for a in workflow.actions_from(issue.state)
        if a in workflow.USER_ACTIONS and roles & set(workflow.rule_for(issue.state, a).roles)
        and not _precondition_error(issue, a, actor, roles)
    ]


def _text(data, name, errors, required, max_length=TEXT_LIMIT):
    value = data.get(name)
    value = "" if value is None else str(value).strip()
    if required and not value:
        errors.add(name, _("This field is required."), "required")
    elif len(value) > max_length:
        errors.add(name, _("At most %d characters.") % max_length, "max_length")
    return value


def parse_when(value, field):
    """A due time from a caller: a datetime, a date (the close of that working day) or their ISO
    text ("2026-12-01 17:30", the browser's "2026-12-01T17:30", "2026-12-01"); None when empty.
    Raises a field error (code `invalid_datetime`) for anything else. Adapters call it to hand the
    services a datetime; the services call it on what they are given."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            # A bare date means the end of that working day.
            parsed = datetime.datetime.combine(datetime.date.fromisoformat(text), _close_of_day())
        except ValueError:
            try:
                parsed = parse_datetime(text)
            except ValueError:  # well-formed but impossible, such as 30 February
                parsed = None
        if parsed is None:
            raise invalid(field, _("Enter a date and time such as 2026-12-01 17:30."), "invalid_datetime")
        value = parsed
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        value = datetime.datetime.combine(value, _close_of_day())
    if not isinstance(value, datetime.datetime):
        raise invalid(field, _("Enter a date and time such as 2026-12-01 17:30."), "invalid_datetime")
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def _when(data, name, errors):
    try:
        return parse_when(data.get(name), name)
    except ValidationError as e:
        errors.extend(e)
        return None


def _close_of_day():
    hour, minute = settings.WORKING_HOURS[1]
    return datetime.time(hour, minute)


def _flag(data, name):
    value = data.get(name, False)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _handler_org(issue, value, errors):
    """An Organisation (or its id) of the issue's street."""
    pk = value.pk if isinstance(value, Organisation) else access.parse_id(value)
    org = Organisation.objects.filter(pk=pk, street_id=issue.street_id).first() if pk else None
    if org is None:
        errors.add("handler_org", _("Unknown organisation in this street."), "unknown_organisation")
    return org


def _handler_user(issue, value, errors):
    """A user (or their username) holding an active role in the issue's street."""
    User = get_user_model()
    if isinstance(value, User):
        user = value if value.is_active else None
    else:
        user = User.objects.filter(username=str(value).strip(), is_active=True).first()
    if user is None or not access.works_in_street(user, issue.grid):
        errors.add("handler_user", _("No active person with that username works in this street."),
                   "handler_not_in_street")
    return user


def _merge_target(issue, value, actor, errors):
    pk = value.pk if isinstance(value, Issue) else access.parse_id(value)
    target = Issue.objects.select_related("merged_into").filter(pk=pk).first() if pk else None
    visible = target is not None and (actor is None or Issue.objects.restrict(actor).filter(pk=target.pk).exists())
    if not visible:
        errors.add("into", _("Unknown issue."), "unknown_issue")
    elif target.pk == issue.pk:
        errors.add("into", _("An issue cannot be a duplicate of itself."), "merge_into_itself")
    elif target.merged_into_id:
        errors.add("into", _("That issue is itself a duplicate of %s; merge into that one.") % target.merged_into.number,
                   "merge_into_duplicate")
    elif issue.duplicates.exists():
        # Keeps every duplicate one step from the issue that carries the work.
        errors.add("into", _("Other reports are merged into this issue; merge the other issue into this one "
                             "instead."), "has_duplicates")
    return target


def _validate(issue, action, rule, actor, data):
    """The action's own fields, checked and converted: {field: value} for the event and the issue."""
    errors, clean = Errors(), {}
    needed = set(rule.required)
    limits = {"reason": Issue._meta.get_field("extension_reason").max_length}
    for name in ("note", "plan", "announcement", "text", "reason"):
        if name in needed or name in rule.optional:
            clean[name] = _text(data, name, errors, name in needed, limits.get(name, TEXT_LIMIT))
    if action == "assign":
        org, user = data.get("handler_org"), data.get("handler_user")
        user = user if user is None or not isinstance(user, str) else user.strip()
        if org in (None, "") and not user:
            errors.add("handler_org", _("Name a handling organisation, a handling person, or both."),
                       "handler_required")
        if org not in (None, ""):
            clean["handler_org"] = _handler_org(issue, org, errors)
        if user:
            clean["handler_user"] = _handler_user(issue, user, errors)
        due = _when(data, "due", errors)
        if due is not None and due <= timezone.now():
            errors.add("due", _("The due time must be in the future."), "due_in_past")
        clean["due"] = due
    elif action == "refer_analysis":
        clean["common"], clean["difficult"] = _flag(data, "common"), _flag(data, "difficult")
        if not (clean["common"] or clean["difficult"]):
            errors.add("common", _("Flag the problem as common, difficult, or both."), "flag_required")
    elif action == "give_feedback":
        clean["channel"] = str(data.get("channel") or "")
        clean["satisfaction"] = str(data.get("satisfaction") or "")
        if clean["channel"] not in FEEDBACK_CHANNELS:
            errors.add("channel", _("Choose visit, phone, SMS or notice."), "invalid_choice")
        if clean["satisfaction"] not in SATISFACTION:
            errors.add("satisfaction", _("Choose satisfied, basically satisfied or dissatisfied."), "invalid_choice")
    elif action == "merge":
        clean["into"] = _merge_target(issue, data.get("into"), actor, errors)
    elif action == "request_extension":
        until = _when(data, "until", errors)
        if until is not None and ((issue.due_at and until <= issue.due_at) or until <= timezone.now()):
            errors.add("until", _("Ask for a time after the current due time, in the future."), "until_too_early")
        clean["until"] = until
        if "until" not in errors and until is None:
            errors.add("until", _("This field is required."), "required")
    elif action == "decide_extension":
        if "approve" not in data:
            errors.add("approve", _("This field is required."), "required")
        clean["approve"] = _flag(data, "approve")
    refused = _precondition_error(issue, action, actor)
    if refused:
        errors.add(*refused)
    errors.raise_if_any()
    return clean


def _precondition_error(issue, action, actor, roles=None):
    """What the issue's own situation forbids, beyond state and role, as (field, message, code), or
    None (shared with allowed_actions, which passes the actor's roles it already knows)."""
    if action in ("verify", "reject"):
        handler = workflow.HANDLER in roles if roles is not None else is_handler(actor, issue)
        if actor is not None and (handler or _last_event(issue, "submit_done", "actor_id") == actor.pk):
            return "actor", _("The handler cannot verify their own work; another person must."), "own_work"
    elif action == "reopen":
        # Closed by the resident's dissatisfied feedback, not by a merge or an earlier cycle.
        last = issue.events.order_by("-created_at", "-id").first()
        if issue.merged_into_id or last is None or last.action != "give_feedback" \
                or last.data.get("satisfaction") != "dissatisfied":
            return "action", _("Only an issue whose resident was dissatisfied can be reopened."), "not_reopenable"
    elif action == "request_extension":
        if issue.extension_until:
            return "until", _("An extension request is already waiting for a decision."), "extension_pending"
    elif action == "decide_extension":
        if not issue.extension_until:
            return "action", _("There is no extension request to decide."), "no_extension_request"
    elif action in ("yellow_card", "red_card"):
        level = Supervision.NONE if action == "yellow_card" else Supervision.YELLOW
        if issue.supervision != level or not issue.is_overdue:
            return "action", _("This card has been given already, or the issue is not overdue."), "card_not_due"
    return None


def _last_event(issue, action, attr):
    event = issue.events.filter(action=action).order_by("-created_at", "-id").first()
    return getattr(event, attr) if event else None


def _previous_state(issue):
    """Where `return` sends an issue: recorded goes back to reported; handling goes back to the
    state it was assigned from (recorded, analysis or disposal)."""
    if issue.state == State.RECORDED:
        return State.REPORTED
    return _last_event(issue, "assign", "from_state") or State.RECORDED


def _jsonable(value):
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if hasattr(value, "username"):  # people by username, as the API names them
        return value.username
    if hasattr(value, "pk"):
        return value.pk
    return value


def _version(version):
    if version is None or isinstance(version, int) and not isinstance(version, bool):
        return version
    if not str(version).strip().isdigit():
        raise invalid("version", _("Enter a whole number."), "invalid")
    return int(str(version).strip())


def issue_transition(*, issue_id, action, actor, version=None, photos=(), **data):
    """Apply one action of the workflow table to one issue, or change nothing and say why.

    `data` holds the action's fields: texts, `handler_org` (an Organisation or its id), `handler_user`
    (a user or a username), `due`/`until` (datetimes; ISO text is read too), `into` (an Issue or its
    id), flags. Raises ValidationError (bad or missing fields, wrong state), Denied (role),
    Issue.DoesNotExist (outside the actor's scope) or IssueConflict (someone else acted first)."""
    photos = _check_photos(photos)
    version = _version(version)
    if version is None:
        # A caller that did not say which version it saw has seen the one before our lock: if another
        # action commits while we wait for the row, ours is the one that conflicts.
        version = Issue.objects.filter(pk=issue_id).values_list("version", flat=True).first()
    with transaction.atomic():
        base = Issue.objects.select_related("grid")
        if actor is not None:
            base = base.filter(pk__in=Issue.objects.restrict(actor).filter(pk=issue_id).values("pk"))
        issue = base.select_for_update(of=("self",)).get(pk=issue_id)
        if version is not None and version != issue.version:
            raise IssueConflict(_("The issue was changed by someone else; reload it and try again."))
        rule = workflow.rule_for(issue.state, action)
        if rule is None:
            raise invalid("action", _("“%(action)s” is not possible while the issue is %(state)s.") % {
                "action": workflow.ACTION_LABELS.get(action, action), "state": issue.get_state_display()},
                "wrong_state")
        if not actor_roles(actor, issue) & set(rule.roles):
            raise Denied(_("Your role does not allow this action on this issue."), code="role_not_allowed")
        clean = _validate(issue, action, rule, actor, data)
        from_state = issue.state
        to_state = {
            workflow.SAME: from_state,
            workflow.PREVIOUS: _previous_state(issue) if rule.to == workflow.PREVIOUS else None,
            workflow.BACK_TO_HANDLER: State.HANDLING if issue.handler_org_id or issue.handler_user_id else State.RECORDED,
        }.get(rule.to, rule.to)
        now = timezone.now()
        changed = _apply(issue, action, clean, to_state, now)
        issue.state, issue.updated_at, issue.version = to_state, now, issue.version + 1
        issue.save(update_fields=sorted(changed | {"state", "updated_at", "version"}))
        event = IssueEvent.objects.create(
            issue=issue, action=action, from_state=from_state, to_state=to_state, actor=actor,
            note=clean.get("note") or clean.get("reason") or clean.get("text") or "", created_at=now,
            data={k: _jsonable(v) for k, v in clean.items() if k != "note" and v not in (None, "")},
        )
        _save_photos(issue, event, photos)
        _after_commit(issue, event)
        return issue, event


def _apply(issue, action, clean, to_state, now):
    """The fields an action writes besides the state; returns their names for update_fields."""
    changed = set()

    def put(**fields):
        for name, value in fields.items():
            setattr(issue, name, value)
            changed.add(name)

    if action == "assign":
        due = clean["due"] or calendar.due_after(now, issue.category.deadline, issue.category.deadline_unit)
        put(handler_org=clean.get("handler_org"), handler_user=clean.get("handler_user"), assigned_at=now,
            due_at=due, supervision=Supervision.NONE)
        clean["due"] = due
        if clean.get("plan"):
            put(plan=clean["plan"])
    elif action == "return" and to_state != State.HANDLING:
        put(handler_org=None, handler_user=None, assigned_at=None, due_at=None, supervision=Supervision.NONE,
            extension_until=None, extension_reason="")
    elif action == "refer_analysis":
        put(common=issue.common or clean["common"], difficult=issue.difficult or clean["difficult"])
    elif action == "declare_unresolvable":
        put(announcement=clean["announcement"], announced_at=now)
    elif action == "merge":
        put(merged_into=clean["into"])
    elif action == "reopen":
        # A reopened issue is being worked on again: its announcement (kept in the event log) is withdrawn.
        put(reopen_count=issue.reopen_count + 1, closed_at=None, announcement="", announced_at=None)
        if to_state == State.HANDLING:  # the handler gets a fresh deadline
            put(assigned_at=now, due_at=calendar.due_after(now, issue.category.deadline, issue.category.deadline_unit),
                supervision=Supervision.NONE)
    elif action == "request_extension":
        put(extension_until=clean["until"], extension_reason=clean["reason"])
    elif action == "decide_extension":
        clean["until"], clean["reason"] = issue.extension_until, issue.extension_reason
        if clean["approve"]:
            put(due_at=issue.extension_until, supervision=Supervision.NONE)
        put(extension_until=None, extension_reason="")
    elif action == "yellow_card":
        put(supervision=Supervision.YELLOW)
    elif action == "red_card":
        put(supervision=Supervision.RED)
    if (action == "assign" or to_state != State.HANDLING) and (issue.extension_until or issue.extension_reason):
        # A waiting extension request belongs to the assignment it was made under.
        put(extension_until=None, extension_reason="")
    if to_state == State.CLOSED:
        put(closed_at=now)
    return changed


def _after_commit(issue, event):
    """Once the transaction has committed: first the domain signal for the apps above (every receiver
    runs even if one fails), then the delivery of the event's messages (written to the outbox now, in
    this transaction). Neither can change the answer of the committed action."""
    send_on_commit(signals.issue_event, sender=Issue, issue_id=issue.pk, event_id=event.pk,
                   action=event.action, to_state=event.to_state)
    notifications.queue_for_event(issue, event)


# --- supervision ------------------------------------------------------------------------------


def issues_mark_overdue():
    """Yellow card when an issue in handling passes its due time; red card when it is overdue by
    RED_CARD_FACTOR of its deadline again. Each card is one event; running twice adds nothing.

    One issue that fails (a broken row, a database hiccup) is logged and counted in `failed`; the
    job goes on with the others and gives that one its card on the next run."""
    now = timezone.now()
    given = {"yellow_card": 0, "red_card": 0, "failed": 0}
    candidates = Issue.objects.filter(state=State.HANDLING, due_at__lt=now, supervision__lt=Supervision.RED)
    for issue_id, due, assigned, level in candidates.values_list("pk", "due_at", "assigned_at", "supervision"):
        try:
            for action in _cards_due(now, due, assigned, level):
                try:
                    issue_transition(issue_id=issue_id, action=action, actor=None)
                except (ValidationError, IssueConflict):
                    break  # the issue moved on meanwhile; nothing to mark
                given[action] += 1
        except Exception:  # noqa: BLE001 — one card must not stop the round
            log.exception("Supervision card for issue %s failed", issue_id)
            given["failed"] += 1
    return given


def _cards_due(now, due, assigned, level):
    # Late by the factor of its own deadline again, counted in working hours like the deadline.
    span = calendar.working_hours_between(assigned, due) if assigned else 0
    red_at = calendar.due_after(due, span * settings.RED_CARD_FACTOR, DeadlineUnit.HOURS) if span else due
    wanted = ["yellow_card"] if level == Supervision.NONE else []
    if now >= red_at:
        wanted.append("red_card")
    return wanted


# --- the outbox -------------------------------------------------------------------------------


def notifications_retry(*, actor, ids):
    """Send failed messages of the outbox again, with a fresh round of attempts; what fails again stays
    pending for the outbox sweep. Only messages the actor sees, and only failed ones, are touched.

    Returns {"sent": n, "waiting": n, "skipped": n} (skipped: chosen but not failed)."""
    if not actor.has_perm("issues.change_notification"):
        raise Denied(_("You may not send the outbox's messages again."), code="retry_not_allowed")
    from .selectors import visible_notifications

    chosen = visible_notifications(actor).filter(pk__in=[pk for pk in map(access.parse_id, ids) if pk])
    failed = list(chosen.filter(status=Notification.Status.FAILED).values_list("pk", flat=True))
    skipped = chosen.count() - len(failed)
    Notification.objects.filter(pk__in=failed, status=Notification.Status.FAILED).update(
        status=Notification.Status.PENDING, attempts=0, next_attempt_at=None)
    sent = waiting = 0
    for pk in failed:
        try:
            n = notifications.deliver(pk)
        except notifications.DeliveryError:
            waiting += 1
            continue
        if n is not None and n.status == Notification.Status.SENT:
            sent += 1
        else:
            waiting += 1
    return {"sent": sent, "waiting": waiting, "skipped": skipped}


# --- reference data: categories and the calendar's corrections ----------------------------------


def _check_keeper(actor):
    if not access.keeps_reference_data(actor):
        raise Denied(_("Only the street staff keep the categories and the calendar."), code="not_street_staff")


def _save_reference(actor, row, data):
    _check_keeper(actor)
    for name, value in data.items():
        setattr(row, name, value)
    row.full_clean()
    with transaction.atomic():
        row.save()
    return row


def category_save(*, actor, category=None, **data):
    """Add or change a category (its deadline and default handler apply to issues assigned after)."""
    from .models import Category

    return _save_reference(actor, category or Category(), data)


def category_delete(*, actor, category):
    """A category no issue uses; one in use is set inactive instead (its issues keep it)."""
    _check_keeper(actor)
    if Issue.objects.filter(category=category).exists():
        raise invalid("category", _("Issues use this category; set it inactive instead."), "category_in_use")
    category.delete()


def calendar_override_save(*, actor, override=None, **data):
    """Declare a day working or not; every deadline computed afterwards uses it."""
    from .models import CalendarOverride

    return _save_reference(actor, override or CalendarOverride(), data)


def calendar_override_delete(*, actor, override):
    _check_keeper(actor)
    override.delete()
