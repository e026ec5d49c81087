"""Concurrent actions on PostgreSQL, each thread with its own connection."""

import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from issues import services
from issues.models import Issue
from tests.factories import category, issue

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(calls):
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def run(i, fn):
        try:
            barrier.wait()
            fn()
            outcomes[i] = "ok"
        except services.IssueConflict:
            outcomes[i] = "conflict"
        except (ValidationError, PermissionDenied) as e:
            outcomes[i] = f"refused {e}"
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_two_actions_at_once_one_wins_one_conflicts(ledger, postgres_only):
    i = ledger.recorded
    seen = i.version
    events = i.events.count()
    outcomes = race([
        lambda: services.issue_transition(issue_id=i.pk, action="assign", actor=ledger.a.secretary, version=seen,
                                          handler_org=ledger.property.pk),
        lambda: services.issue_transition(issue_id=i.pk, action="refer_analysis", actor=ledger.staff, version=seen,
                                          note="共性问题", common=True),
    ])
    assert sorted(outcomes) == ["conflict", "ok"]
    i.refresh_from_db()
    assert i.version == seen + 1
    assert i.events.count() == events + 1


def test_numbers_stay_unique_under_concurrent_reports(ledger, postgres_only):
    cat = category()
    outcomes = race([lambda: issue(ledger.a.mg1, category=cat) for _ in range(8)])
    assert outcomes == ["ok"] * 8
    numbers = list(Issue.objects.values_list("number", flat=True))
    assert len(numbers) == len(set(numbers)) == 12
