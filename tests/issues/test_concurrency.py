"""Concurrent actions on PostgreSQL, each thread with its own connection."""

import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from issues import services
from issues.models import Issue
from tests.factories import category, issue
from tests.support import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

OUTCOMES = {services.IssueConflict: "conflict", (ValidationError, PermissionDenied): lambda e: f"refused {e}"}


def test_two_actions_at_once_one_wins_one_conflicts(ledger, postgres_only):
    i = ledger.recorded
    seen = i.version
    events = i.events.count()
    outcomes = race([
        lambda: services.issue_transition(issue_id=i.pk, action="assign", actor=ledger.a.secretary, version=seen,
                                          handler_org=ledger.property.pk),
        lambda: services.issue_transition(issue_id=i.pk, action="refer_analysis", actor=ledger.staff, version=seen,
                                          note="共性问题", common=True),
    ], OUTCOMES)
    assert sorted(outcomes) == ["conflict", "ok"]
    i.refresh_from_db()
    assert i.version == seen + 1
    assert i.events.count() == events + 1


def test_numbers_stay_unique_under_concurrent_reports(ledger, postgres_only):
    cat = category()
    outcomes = race([lambda: issue(ledger.a.mg1, category=cat) for _ in range(8)], OUTCOMES)
    assert outcomes == ["ok"] * 8
    numbers = list(Issue.objects.values_list("number", flat=True))
    assert len(numbers) == len(set(numbers)) == 12


def test_without_a_version_the_loser_still_gets_a_conflict(ledger, postgres_only):
    """B reads the issue while A holds its row; A commits first; B, which named no version, conflicts."""
    import time

    from django.db import transaction

    i = ledger.recorded
    locked, b_waiting = threading.Event(), threading.Event()
    outcome = {}

    def a():
        try:
            with transaction.atomic():
                Issue.objects.select_for_update().get(pk=i.pk)
                locked.set()
                b_waiting.wait(5)
                time.sleep(0.3)  # B has read the version and now waits for the row
                services.issue_transition(issue_id=i.pk, action="assign", actor=ledger.a.secretary,
                                          handler_org=ledger.property.pk)
        finally:
            connection.close()

    def b():
        try:
            locked.wait(5)
            b_waiting.set()
            services.issue_transition(issue_id=i.pk, action="assign", actor=ledger.staff, handler_org=ledger.property.pk)
            outcome["b"] = "ok"
        except services.IssueConflict:
            outcome["b"] = "conflict"
        except (ValidationError, PermissionDenied) as e:
            outcome["b"] = f"refused {e}"
        finally:
            connection.close()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcome == {"b": "conflict"}
    assert Issue.objects.get(pk=i.pk).events.filter(action="assign").count() == 1
