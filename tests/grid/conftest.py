"""The grid's admin people: `world`'s own street staff and community A's secretary in their admin
groups (the grid's tests need no ledger, unlike tests/conftest.py's `staff` and `secretary`)."""

import pytest

from grid import services
from grid.models import Role
from tests.support import shared_fixture


@shared_fixture
def staff(world):
    services.user_grant_admin(user=world.staff, role=Role.STREET_STAFF)
    return world.staff


@shared_fixture
def secretary(world):
    services.user_grant_admin(user=world.a.secretary, role=Role.SECRETARY)
    return world.a.secretary


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def secretary_client(client, secretary):
    client.force_login(secretary)
    return client
