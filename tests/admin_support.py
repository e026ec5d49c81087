"""Helpers the admin tests of the apps above the grid share; they live in tests.support now."""

from tests.support import grant, messages_of, rows  # noqa: F401
