"""Filters of the incentives app's list endpoints. They only narrow what `incentives.selectors`
already allows: an id outside the user's scope matches nothing more."""

import datetime

import django_filters
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from grid.filters import IdFilter

from .models import ClaimKind, Entry, ExpenseClaim, Fund, Redemption, Reward


def _start_of(day):
    # A day of Asia/Shanghai, not of UTC: `since=2026-11-01` starts at local midnight.
    return datetime.datetime.combine(day, datetime.time(), tzinfo=timezone.get_current_timezone())


class EntryFilter(django_filters.FilterSet):
    account = IdFilter(field_name="account", label=_("account"))
    rule = django_filters.CharFilter(field_name="rule__code", label=_("rule (code)"))
    since = django_filters.DateFilter(method="filter_since", label=_("on or after (date)"))
    until = django_filters.DateFilter(method="filter_until", label=_("on or before (date)"))

    class Meta:
        model = Entry
        fields = []

    def filter_since(self, qs, name, value):
        return qs.filter(created_at__gte=_start_of(value))

    def filter_until(self, qs, name, value):
        return qs.filter(created_at__lt=_start_of(value + datetime.timedelta(days=1)))


class RewardFilter(django_filters.FilterSet):
    node = IdFilter(field_name="node", label=_("offered by (node)"))

    class Meta:
        model = Reward
        fields = ["active"]


class RedemptionFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=Redemption.State.choices, label=_("state"))
    reward = IdFilter(field_name="reward", label=_("reward"))
    account = IdFilter(field_name="account", label=_("account"))

    class Meta:
        model = Redemption
        fields = []


class FundFilter(django_filters.FilterSet):
    node = IdFilter(field_name="node", label=_("owner (node)"))

    class Meta:
        model = Fund
        fields = ["closed"]


class ClaimFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=ExpenseClaim.State.choices, label=_("state"))
    fund = IdFilter(field_name="fund", label=_("fund"))
    kind = django_filters.ChoiceFilter(choices=ClaimKind.choices, label=_("kind"))
    leader = django_filters.CharFilter(field_name="leader__username", label=_("leader (username)"))

    class Meta:
        model = ExpenseClaim
        fields = []
