"""Helpers the admin tests of the apps above the grid share."""

from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages

from grid import services as grid_services


def grant(user, role):
    """The role's admin group: grid's permissions plus those each app registers for the role."""
    grid_services.user_grant_admin(user=user, role=role)
    return get_user_model().objects.get(pk=user.pk)  # no stale permission cache


def messages_of(response):
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


def rows(response):
    """The primary keys on a changelist page."""
    return {obj.pk for obj in response.context["cl"].result_list}
