"""The ledger's reference data (categories, the calendar's corrections) is written through services
that check the actor's right, from the admin as from anywhere else."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from issues import services
from issues.models import CalendarOverride, Category


def test_street_staff_keep_categories_and_others_are_refused(ledger, staff):
    cat = services.category_save(actor=staff, code="noise2", name="噪音扰民", group="environment", deadline=3,
                                 deadline_unit="days", handler_kind="property", active=True)
    assert Category.objects.get(code="noise2").name == "噪音扰民"
    with pytest.raises(PermissionDenied) as e:
        services.category_save(actor=ledger.a.secretary, category=cat, name="改名")
    assert e.value.code == "not_street_staff"
    assert Category.objects.get(pk=cat.pk).name == "噪音扰民"


def test_a_category_in_use_is_not_deleted(ledger, staff):
    with pytest.raises(ValidationError) as e:
        services.category_delete(actor=staff, category=ledger.category)
    assert e.value.error_dict["category"][0].code == "category_in_use"
    assert Category.objects.filter(pk=ledger.category.pk).exists()


def test_calendar_corrections_through_the_service(ledger, staff):
    day = datetime.date(2026, 12, 26)
    override = services.calendar_override_save(actor=staff, date=day, workday=True, note="调休")
    with pytest.raises(PermissionDenied):
        services.calendar_override_delete(actor=ledger.a.leader, override=override)
    services.calendar_override_delete(actor=staff, override=override)
    assert not CalendarOverride.objects.filter(date=day).exists()


def test_the_admin_saves_a_calendar_correction_through_the_service(client, ledger, staff):
    client.force_login(staff)
    r = client.post("/admin/issues/calendaroverride/add/", {"date": "2026-12-27", "workday": "on", "note": "调休"})
    assert r.status_code == 302, r.content[:500]
    assert CalendarOverride.objects.get(date="2026-12-27").workday is True
