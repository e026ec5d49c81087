"""Months, quarters and years: the one place that does their arithmetic.

A month is written `2026-11`, a quarter `2026-Q4`, a year `2026`. Parsers raise a field-level
ValidationError (code `invalid_month` / `invalid_period`) for anything else, including years outside
2000–2199, so no caller can build a date the database or the calendar cannot hold."""

import datetime
import re

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

MIN_YEAR, MAX_YEAR = 2000, 2199
PERIOD_RE = re.compile(r"^(\d{4})(?:-(\d{2})|-Q([1-4]))?$")
MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


def next_month(day):
    """The first day of the month after the one `day` lies in."""
    return (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


def add_months(day, n):
    """The first day of the month `n` months after (negative: before) the month of `day`."""
    index = day.year * 12 + day.month - 1 + n
    return datetime.date(index // 12, index % 12 + 1, 1)


def months_back(first, n):
    """The first days of the `n` months before the month starting `first`, oldest first."""
    return [add_months(first, -k) for k in range(n, 0, -1)]


def month_label(day):
    return f"{day:%Y-%m}"


def current_month(today=None):
    return month_label(today or timezone.localdate())


def previous_month(today=None):
    return month_label(add_months(today or timezone.localdate(), -1))


def _year(text):
    year = int(text)
    return year if MIN_YEAR <= year <= MAX_YEAR else None


def parse_month(value, field="month"):
    """'2026-11' → (first day, last day); a field error for anything else."""
    m = MONTH_RE.match(str(value if value is not None else "").strip())
    year = _year(m.group(1)) if m else None
    if year is None or not 1 <= int(m.group(2)) <= 12:
        raise ValidationError({field: ValidationError(_("Enter a month such as 2026-11."), code="invalid_month")})
    first = datetime.date(year, int(m.group(2)), 1)
    return first, next_month(first) - datetime.timedelta(days=1)


def parse_period(value, field="period"):
    """'2026-11', '2026-Q4' or '2026' → (first day, last day); a field error for anything else."""
    m = PERIOD_RE.match(str(value if value is not None else "").strip())
    year = _year(m.group(1)) if m else None
    month, quarter = (m.group(2), m.group(3)) if m else (None, None)
    if year is None or (month and not 1 <= int(month) <= 12):
        raise ValidationError({field: ValidationError(
            _("Enter a month (2026-11), a quarter (2026-Q4) or a year (2026)."), code="invalid_period")})
    if month:
        first, months = datetime.date(year, int(month), 1), 1
    elif quarter:
        first, months = datetime.date(year, (int(quarter) - 1) * 3 + 1, 1), 3
    else:
        first, months = datetime.date(year, 1, 1), 12
    return first, add_months(first, months) - datetime.timedelta(days=1)


def aware(day):
    """Midnight at the start of `day` in the current time zone (Asia/Shanghai)."""
    return datetime.datetime.combine(day, datetime.time(), tzinfo=timezone.get_current_timezone())


def day_range(first, last):
    """[start, end) aware datetimes covering the days first..last."""
    return aware(first), aware(last + datetime.timedelta(days=1))


def month_bounds(when=None, months_back_=0):
    """[start, end) of the month of `when` (a datetime, a date, or now), widened `months_back_`
    months into the past."""
    if when is None:
        day = timezone.localdate()
    elif isinstance(when, datetime.datetime):
        day = timezone.localtime(when).date() if timezone.is_aware(when) else when.date()
    else:
        day = when
    first = day.replace(day=1)
    return aware(add_months(first, -months_back_)), aware(next_month(first))
