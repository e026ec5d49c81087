"""How the incentives' admin shows things: periods in words, node choices, the list filters, links and
receipt thumbnails, and who manages which place (computed once per request)."""

from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from common.periods import add_months, month_label, parse_period
from grid.access import parse_id
from grid.admin import SubtreeFilter
from grid.models import Level

from .. import selectors

# A title is data printed on a certificate, in the street's language; the staff may change it.
DEFAULT_HONOUR_TITLE = "优秀微网格长"

RANKING_BY = [("points", gettext_lazy("points earned")),
              ("satisfied", gettext_lazy("issues closed with a satisfied resident")),
              ("worklogs", gettext_lazy("work logs"))]


def perm(request, action, model):
    opts = model._meta
    return request.user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")


def managed_ids(request):
    """`managed_nodes` of the request's user, computed once per request."""
    if not hasattr(request, "_incentives_managed"):
        request._incentives_managed = set(selectors.managed_nodes(request.user).values_list("pk", flat=True))
    return request._incentives_managed


def period_label(period):
    """'2026-11' → a month, '2026-Q4' → a quarter, '2026' → a year, in the user's language."""
    try:
        first, last = parse_period(period)
    except ValidationError:
        return period
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    if months == 1:
        return _("month %(month)d of %(year)d") % {"month": first.month, "year": first.year}
    if months == 3:
        return _("quarter %(quarter)d of %(year)d") % {"quarter": (first.month - 1) // 3 + 1, "year": first.year}
    return _("the year %(year)d") % {"year": first.year}


def period_suggestions(today=None):
    """This and last month, quarter and year, for the period field's list."""
    today = today or timezone.localdate()
    quarter = (today.month - 1) // 3 + 1
    last_quarter = add_months(today.replace(month=(quarter - 1) * 3 + 1), -3)
    return [month_label(today), month_label(add_months(today, -1)), f"{today.year}-Q{quarter}",
            f"{last_quarter.year}-Q{(last_quarter.month - 1) // 3 + 1}", f"{today.year}", f"{today.year - 1}"]


def node_choice_label(node):
    return ("— " if node.level == Level.COMMUNITY else "") + node.name


def entry_link(pk):
    if not pk:
        return "—"
    return format_html('<a href="{}">#{}</a>', reverse("admin:incentives_entry_change", args=[pk]), pk)


def receipt_html(claim, height, width, css_class=""):
    """The claim's receipt photo at most `height` × `width` pixels, linking to the full image."""
    if not claim.receipt:
        return "—"
    class_attr = format_html(' class="{}"', css_class) if css_class else ""
    return format_html('<a href="{0}" target="_blank"><img src="{0}" alt="{1}"{2} style="max-height:{3}px;'
                       'max-width:{4}px"></a>', claim.receipt.url, _("receipt"), class_attr, height, width)


# --- list queries --------------------------------------------------------------------------------

# --- list filters --------------------------------------------------------------------------------


class ScopeFilter(SubtreeFilter):
    """grid's subtree filter along the model's own path to the tree (its `scope_via`), so rows with
    street and community columns are matched on them."""

    def __init__(self, request, params, model, model_admin):
        self.via = model.scope_via
        super().__init__(request, params, model, model_admin)


class FundFilter(admin.SimpleListFilter):
    """The funds the user sees (a plain related filter would list every street's funds)."""

    title = gettext_lazy("fund")
    parameter_name = "fund"

    def lookups(self, request, model_admin):
        return [(f.pk, f.name) for f in selectors.visible_funds(request.user).order_by("-starts_on", "name")]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        pk = parse_id(self.value())
        return queryset.filter(fund_id=pk) if pk else queryset.none()
