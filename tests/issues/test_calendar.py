import datetime

import pytest
from django.utils import timezone

from issues import calendar
from issues.models import CalendarOverride

pytestmark = pytest.mark.django_db
TZ = timezone.get_fixed_timezone(8 * 60)


def at(y, m, d, h=10, mi=0):
    return datetime.datetime(y, m, d, h, mi, tzinfo=TZ)


def test_statutory_holidays_and_adjusted_workdays():
    assert not calendar.is_workday(datetime.date(2026, 10, 1))  # National Day
    assert calendar.is_workday(datetime.date(2026, 10, 10))  # a Saturday made a working day (调休)
    assert not calendar.is_workday(datetime.date(2026, 11, 28))  # an ordinary Saturday
    assert calendar.is_workday(datetime.date(2026, 11, 27))


def test_overrides_win():
    CalendarOverride.objects.create(date=datetime.date(2026, 11, 27), workday=False, note="街道防汛值守调休")
    CalendarOverride.objects.create(date=datetime.date(2026, 11, 28), workday=True)
    assert not calendar.is_workday(datetime.date(2026, 11, 27))
    assert calendar.is_workday(datetime.date(2026, 11, 28))


def test_days_end_at_close_of_the_nth_working_day():
    # Friday 27 Nov + 3 working days → Wednesday 2 Dec, end of the working day.
    assert calendar.due_after(at(2026, 11, 27, 15), 3, "days") == at(2026, 12, 2, 17, 30)


def test_days_skip_the_national_day_week():
    # Wednesday 30 Sept + 2 working days: 1–7 Oct are holidays, 8 Oct (Thu) and 9 Oct (Fri) count.
    assert calendar.due_after(at(2026, 9, 30), 2, "days") == at(2026, 10, 9, 17, 30)


def test_hours_inside_working_hours_only():
    # Friday 16:30 + 3 working hours: 1 h on Friday, then Monday 09:00 + 2 h.
    assert calendar.due_after(at(2026, 11, 27, 16, 30), 3, "hours") == at(2026, 11, 30, 11, 0)
    # Before opening, the clock starts at 09:00.
    assert calendar.due_after(at(2026, 11, 30, 7, 0), 2, "hours") == at(2026, 11, 30, 11, 0)


def test_unknown_year_falls_back_to_weekdays(caplog):
    assert calendar.is_workday(datetime.date(2031, 1, 6))  # a Monday
    assert not calendar.is_workday(datetime.date(2031, 1, 4))  # a Saturday
