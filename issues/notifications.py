"""The outbox: who hears of what, and how a message is delivered (console, email, SMS gateway).

Rows are written in the same transaction as the event that causes them, so a message is never lost
or sent for a change that rolled back; a Celery task delivers each one after commit, with retries.
The enqueue is robust (common.hooks): a broker that is down is logged, and the outbox sweep
(`flush_outbox`, every minute) delivers what was not enqueued.
"""

import json
import logging
import urllib.request

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from common.hooks import on_commit
from grid.models import PHONE_RE, Role, RoleAssignment, mask_phone

from .models import Channel, Notification

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


class DeliveryError(Exception):
    pass


def _user_address(user):
    channel = settings.NOTIFY_CHANNEL
    address = {Channel.EMAIL: user.email, Channel.SMS: user.phone}.get(channel, user.username)
    if not address:  # no e-mail or phone on file: the console still records it
        return Channel.CONSOLE, user.username
    return channel, address


def _handlers(issue):
    users = []
    if issue.handler_user_id:
        users.append(issue.handler_user)
    if issue.handler_org_id:
        staff = RoleAssignment.objects.active().filter(role=Role.PROPERTY_STAFF, organisation_id=issue.handler_org_id)
        users += [ra.user for ra in staff.select_related("user")]
    return users


def _secretaries(issue):
    if issue.community_id is None:
        return []
    roles = RoleAssignment.objects.active().filter(role=Role.SECRETARY, node_id=issue.community_id)
    return [ra.user for ra in roles.select_related("user")]


def recipients_for(issue, event):
    """[(user or None, channel, address, text)] for one event; empty when nobody needs to hear."""
    ref = f"{issue.number} {issue.title}"
    out = []
    if event.action == "assign":
        due = timezone.localtime(issue.due_at).strftime("%Y-%m-%d %H:%M")
        text = _("New issue for you: %(ref)s. Due %(due)s.") % {"ref": ref, "due": due}
        out += [(u, text) for u in _handlers(issue)]
    elif event.action in ("yellow_card", "red_card"):
        card = _("Yellow card") if event.action == "yellow_card" else _("Red card")
        text = _("%(card)s: %(ref)s is overdue.") % {"card": card, "ref": ref}
        out += [(u, text) for u in _handlers(issue) + _secretaries(issue)]
    elif event.action == "decide_extension":
        requester = issue.events.filter(action="request_extension").order_by("-created_at", "-id").first()
        if requester and requester.actor:
            key = _("approved") if event.data.get("approve") else _("refused")
            text = _("Your extension request for %(ref)s was %(decision)s.") % {"ref": ref, "decision": key}
            out.append((requester.actor, text))
    rows = []
    seen = set()
    for user, text in out:
        if user.pk in seen:
            continue
        seen.add(user.pk)
        channel, address = _user_address(user)
        rows.append((user, channel, address, text))
    # A resident who left a phone hears the feedback by SMS; without a gateway there is no way to
    # reach them (and their number is not written anywhere else).
    if event.action == "give_feedback" and issue.reporter_phone and settings.SMS_GATEWAY_URL:
        text = _("Your report %(number)s has been answered: %(text)s") % {"number": issue.number, "text": event.data.get("text", "")}
        rows.append((None, Channel.SMS, issue.reporter_phone, text))
    return rows


def queue_for_event(issue, event):
    """Write the event's messages to the outbox and have them sent once the transaction commits."""
    created = []
    for user, channel, address, text in recipients_for(issue, event):
        who = user.pk if user else address
        n, new = Notification.objects.get_or_create(
            key=f"event:{event.pk}:{who}",
            defaults={"recipient": user, "channel": channel, "address": address, "text": text,
                      "subject": issue.number, "issue": issue},
        )
        if new:
            created.append(n.pk)
    if created:
        on_commit(lambda: _enqueue(created), f"deliver notifications {created}")
    return created


def _enqueue(pks):
    """One delivery task per message; a failed enqueue of one does not keep the others back."""
    from .tasks import send_notification

    for pk in pks:
        try:
            send_notification.delay(pk)
        except Exception:  # noqa: BLE001 — a broker down, or (tasks run inline) a failed attempt
            # The row stays pending; the outbox sweep delivers it later.
            log.warning("Delivery of notification %s not started now; the outbox sweep will retry it.", pk,
                        exc_info=True)


def flush_outbox(limit=1000):
    """Deliver what is still pending a minute after it was queued (a lost enqueue, a worker restart)
    and failed attempts whose back-off has passed. Returns {"sent", "retry", "failed"} counts."""
    now = timezone.now()
    stale = Notification.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        status=Notification.Status.PENDING, created_at__lt=now - timezone.timedelta(minutes=1),
    ).values_list("pk", flat=True)[:limit]
    counts = {"sent": 0, "retry": 0, "failed": 0}
    for pk in stale:
        try:
            n = deliver(pk)
        except DeliveryError:
            counts["retry"] += 1
            continue
        if n is not None and n.status == Notification.Status.SENT:
            counts["sent"] += 1
        elif n is not None and n.status == Notification.Status.FAILED:
            counts["failed"] += 1
    return counts


def backoff(attempts):
    """How long after a failed attempt the next one may come: 30 s, 1 min, 2 min, 4 min, …"""
    return timezone.timedelta(seconds=30 * 2 ** max(attempts - 1, 0))


def deliver(notification_id, force=False):
    """Send one message; safe to call again (a sent message is not sent twice, a failed one not before
    its back-off has passed unless `force`). A failure is recorded on the row; DeliveryError then asks
    the caller (the Celery task) to retry later."""
    with transaction.atomic():
        n = Notification.objects.select_for_update().filter(pk=notification_id).first()
        if n is None or n.status != Notification.Status.PENDING:
            return n
        if not force and n.next_attempt_at and n.next_attempt_at > timezone.now():
            return n
        try:
            _send(n)
            error = None
        except Exception as e:  # any channel failure is recorded and retried
            error = e
        n.attempts += 1
        if error is None:
            n.status, n.sent_at, n.last_error = Notification.Status.SENT, timezone.now(), ""
        else:
            n.last_error = str(error)[:500]
            n.status = Notification.Status.FAILED if n.attempts >= MAX_ATTEMPTS else Notification.Status.PENDING
            n.next_attempt_at = timezone.now() + backoff(n.attempts)
        n.save(update_fields=["attempts", "status", "sent_at", "last_error", "next_attempt_at"])
    if error is not None and n.status == Notification.Status.PENDING:
        raise DeliveryError(n.last_error) from error
    return n


def _send(n):
    if n.channel == Channel.CONSOLE:
        log.info("notification to %s: %s", mask_phone(n.address) if PHONE_RE.match(n.address) else n.address, n.text)
    elif n.channel == Channel.EMAIL:
        send_mail(n.subject or _("Micro-grid governance"), n.text, settings.DEFAULT_FROM_EMAIL, [n.address])
    elif n.channel == Channel.SMS:
        send_sms(n.address, n.text)
    else:
        raise DeliveryError(f"unknown channel {n.channel}")


def send_sms(phone, text):
    """POST {phone, text} as JSON to the configured gateway, with its key as a bearer token."""
    if not settings.SMS_GATEWAY_URL:
        raise DeliveryError("SMS_GATEWAY_URL is not set")
    body = json.dumps({"phone": phone, "text": text}).encode()
    request = urllib.request.Request(
        settings.SMS_GATEWAY_URL, data=body, method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {settings.SMS_GATEWAY_KEY}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status >= 300:
            raise DeliveryError(f"gateway answered {response.status}")
