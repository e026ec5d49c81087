"""The working-day calendar: China's statutory holidays and adjusted working days (调休) from the
chinese-calendar package, corrected by the street office's own overrides. Every deadline uses it."""

import datetime
import logging
from functools import lru_cache

import chinese_calendar
from django.conf import settings
from django.utils import timezone

from .models import CalendarOverride, DeadlineUnit

log = logging.getLogger(__name__)


@lru_cache(maxsize=4096)
def _statutory_workday(day):
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        # A year the package does not know yet: Monday to Friday, until it is updated or the
        # street enters that year's holidays as overrides.
        _warn_unknown_year(day.year)
        return day.weekday() < 5


@lru_cache(maxsize=None)
def _warn_unknown_year(year):
    log.warning("No statutory calendar for %s; counting Monday to Friday.", year)


def workdays(start, end):
    """{date: is working day} for start..end inclusive, overrides applied (one query)."""
    overrides = dict(CalendarOverride.objects.filter(date__range=(start, end)).values_list("date", "workday"))
    out, day = {}, start
    while day <= end:
        out[day] = overrides.get(day, _statutory_workday(day))
        day += datetime.timedelta(days=1)
    return out


def is_workday(day):
    return workdays(day, day)[day]


def _window(day):
    tz = timezone.get_current_timezone()
    (sh, sm), (eh, em) = settings.WORKING_HOURS
    return (
        datetime.datetime.combine(day, datetime.time(sh, sm), tzinfo=tz),
        datetime.datetime.combine(day, datetime.time(eh, em), tzinfo=tz),
    )


def due_after(start, amount, unit):
    """When a deadline of `amount` working days or hours, counted from `start`, runs out.

    Days: the end of the working day that is the `amount`-th after `start`'s day (3 working days
    from a Friday afternoon end on Wednesday evening). Hours: counted inside the working hours of
    working days only.
    """
    start = timezone.localtime(start)
    # Look far enough ahead for long holidays (Spring Festival) in one query.
    horizon = start.date() + datetime.timedelta(days=amount * (1 if unit == DeadlineUnit.HOURS else 3) + 30)
    calendar = workdays(start.date(), horizon)
    day = start.date()
    if unit == DeadlineUnit.DAYS:
        left = amount
        while left:
            day += datetime.timedelta(days=1)
            if calendar.get(day, _statutory_workday(day)):
                left -= 1
        return _window(day)[1]
    remaining = datetime.timedelta(hours=amount)
    moment = start
    while True:
        if calendar.get(day, _statutory_workday(day)):
            open_, close = _window(day)
            begin = max(moment, open_)
            if begin < close:
                if begin + remaining <= close:
                    return begin + remaining
                remaining -= close - begin
        day += datetime.timedelta(days=1)
        moment = _window(day)[0]


def working_hours_between(start, end):
    """Working hours (a float) from `start` to `end` on the calendar: the inverse of due_after."""
    start, end = timezone.localtime(start), timezone.localtime(end)
    if end <= start:
        return 0.0
    calendar = workdays(start.date(), end.date())
    total = datetime.timedelta(0)
    day = start.date()
    while day <= end.date():
        if calendar[day]:
            open_, close = _window(day)
            begin, finish = max(open_, start), min(close, end)
            if finish > begin:
                total += finish - begin
        day += datetime.timedelta(days=1)
    return total.total_seconds() / 3600
