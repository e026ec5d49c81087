"""The outbox and its channels; SMS against a local fake gateway."""

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail
from django.core.management import call_command

from issues import notifications
from issues.models import Notification
from tests.factories import act, issue

pytestmark = pytest.mark.django_db


class FakeGateway(BaseHTTPRequestHandler):
    received = []
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        FakeGateway.received.append({"auth": self.headers.get("Authorization"), **json.loads(body)})
        self.send_response(FakeGateway.status)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway(settings):
    FakeGateway.received, FakeGateway.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), FakeGateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.SMS_GATEWAY_URL = f"http://127.0.0.1:{server.server_port}/send"
    settings.SMS_GATEWAY_KEY = "test-key"
    yield FakeGateway
    server.shutdown()
    server.server_close()


def test_assignment_notifies_the_company_staff(ledger, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        i = act(ledger.recorded, "assign", ledger.a.secretary, handler_org=ledger.property.pk)
    n = Notification.objects.get(issue=i, recipient=ledger.worker)
    assert n.status == Notification.Status.SENT  # embedded mode: the task ran inline on commit
    assert i.number in n.text and n.channel == "console"


def test_one_message_per_event_and_recipient(ledger):
    i = act(ledger.recorded, "assign", ledger.a.secretary, handler_org=ledger.property.pk, handler_user="worker")
    assert Notification.objects.filter(issue=i, recipient=ledger.worker).count() == 1


def test_feedback_reaches_the_resident_by_sms(ledger, gateway, django_capture_on_commit_callbacks):
    i = act(ledger.reported, "resolve_on_spot", ledger.a.leader, note="修好了")
    with django_capture_on_commit_callbacks(execute=True):
        act(i, "give_feedback", ledger.a.leader, channel="phone", text="门禁已修复", satisfaction="satisfied")
    assert [(r["phone"], r["auth"]) for r in gateway.received] == [("13912340000", "Bearer test-key")]
    assert "门禁已修复" in gateway.received[0]["text"]
    assert Notification.objects.get(address="13912340000").status == Notification.Status.SENT


def test_extension_decision_reaches_the_requester(ledger, english):
    i = act(ledger.handling, "request_extension", ledger.worker, reason="等配件", until="2099-01-01 12:00")
    act(i, "decide_extension", ledger.a.secretary, approve=False)
    n = Notification.objects.get(issue=i, recipient=ledger.worker, text__contains="extension")
    assert "refused" in n.text


def test_gateway_failure_is_recorded_and_retried(ledger, gateway, settings):
    gateway.status = 500
    n = Notification.objects.create(key="t1", channel="sms", address="13800000000", text="hello")
    with pytest.raises(notifications.DeliveryError):
        notifications.deliver(n.pk)
    n.refresh_from_db()
    assert (n.status, n.attempts) == (Notification.Status.PENDING, 1) and "500" in n.last_error
    gateway.status = 200
    assert notifications.deliver(n.pk).status == Notification.Status.PENDING  # its back-off has not passed
    assert notifications.deliver(n.pk, force=True).status == Notification.Status.SENT
    assert notifications.deliver(n.pk, force=True).attempts == 2  # delivering again sends nothing more
    assert len(gateway.received) == 2


def test_gives_up_after_max_attempts(settings):
    settings.SMS_GATEWAY_URL = ""
    n = Notification.objects.create(key="t2", channel="sms", address="13800000000", text="x")
    for _ in range(notifications.MAX_ATTEMPTS - 1):
        with pytest.raises(notifications.DeliveryError):
            notifications.deliver(n.pk, force=True)
    assert notifications.deliver(n.pk, force=True).status == Notification.Status.FAILED


def test_the_outbox_sweep_waits_for_the_back_off(settings):
    from django.utils import timezone

    from issues.tasks import flush_outbox

    settings.SMS_GATEWAY_URL = ""
    n = Notification.objects.create(key="t4", channel="sms", address="13800000000", text="x",
                                    created_at=timezone.now() - timezone.timedelta(minutes=5))
    for _ in range(3):  # a gateway outage: the sweep every minute must not burn the attempts
        flush_outbox()
    n.refresh_from_db()
    assert (n.attempts, n.status) == (1, Notification.Status.PENDING)
    Notification.objects.filter(pk=n.pk).update(next_attempt_at=timezone.now() - timezone.timedelta(seconds=1))
    flush_outbox()
    assert Notification.objects.get(pk=n.pk).attempts == 2


def test_email_channel(ledger, settings, django_capture_on_commit_callbacks):
    settings.NOTIFY_CHANNEL = "email"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    ledger.worker.email = "worker@example.org"
    ledger.worker.save()
    with django_capture_on_commit_callbacks(execute=True):
        act(ledger.recorded, "assign", ledger.a.secretary, handler_org=ledger.property.pk)
    assert [m.to for m in mail.outbox] == [["worker@example.org"]]


def test_send_notifications_command(db):
    Notification.objects.create(key="t3", channel="console", address="someone", text="x")
    out = io.StringIO()
    call_command("send_notifications", stdout=out)
    assert "sent: 1" in out.getvalue()
    assert Notification.objects.get(key="t3").status == Notification.Status.SENT


def test_mark_overdue_command(ledger):
    from django.utils import timezone

    ledger.handling.__class__.objects.filter(pk=ledger.handling.pk).update(due_at=timezone.now() - timezone.timedelta(hours=1))
    out = io.StringIO()
    call_command("mark_overdue", stdout=out)
    assert "yellow cards: 1" in out.getvalue()


def test_resident_without_phone_gets_nothing(ledger):
    i = issue(ledger.a.mg1)
    i = act(i, "resolve_on_spot", ledger.a.leader, note="ok")
    act(i, "give_feedback", ledger.a.leader, channel="visit", text="x", satisfaction="satisfied")
    assert not Notification.objects.filter(issue=i).exists()
