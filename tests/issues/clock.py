"""Times for the supervision tests, counted on the ledger's working-day calendar.

Cards are given by working hours (a deadline of 4 working days, red when late by half of it again),
so "three days late" must mean three working days: counted in calendar days, a Monday morning is
only one working day after Friday morning, and the red card would not be due yet."""

import datetime
import math

from django.utils import timezone

from issues import calendar
from issues.models import Issue


def working_days_back(moment, days):
    """`moment` moved back by `days` working days (rounded up), at the same local time of day."""
    local = timezone.localtime(moment)
    day, left = local.date(), math.ceil(days)
    while left:
        day -= datetime.timedelta(days=1)
        if calendar.is_workday(day):
            left -= 1
    return local.replace(year=day.year, month=day.month, day=day.day)


def make_overdue(issue, days_late, span_days=4):
    """As if `issue` had been assigned `span_days` working days before its due time, which passed
    `days_late` working days ago (the job compares with the clock)."""
    due = working_days_back(timezone.now(), days_late)
    Issue.objects.filter(pk=issue.pk).update(assigned_at=working_days_back(due, span_days), due_at=due)
