"""The incentives' own admin pages and row actions: the ledger's reversal (from the list or an entry's
page) and its export, the rankings with their export and "give an honour" links, an honour's printable
certificate, and a fund's report export. Every write is a service call, once per row: a refused row
changes nothing and the others go on."""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from common.admin import changelist_export
from common.errors import Conflict
from common.excel import xlsx_response
from common.forms import error_text
from common.periods import current_month
from grid.models import GridNode, Level

from .. import excel, selectors, services
from ..models import Account, Entry, Honour
from .forms import NoteForm, RankingForm, ranked_places
from .presentation import DEFAULT_HONOUR_TITLE, RANKING_BY, managed_ids, perm, period_label, period_suggestions


def row_error_text(error):
    """A refusal's words for a message line (a ValidationError may carry several)."""
    if isinstance(error, ValidationError):
        return "；".join(error.messages)
    return error_text(error)


class ActionPageMixin:
    """Row actions that call a service once per row, and the intermediate page asking for a note."""

    def run_per_row(self, request, rows, call, done_message):
        """`call(row)` for each row; each call is the service's own transaction, so a refused row
        changes nothing and the others go on. Refusals are listed as error messages."""
        done = 0
        for row in rows:
            try:
                call(row)
            except (ValidationError, PermissionDenied, Conflict) as e:
                self.message_user(request, _("%(row)s: %(error)s") % {"row": row, "error": row_error_text(e)},
                                  messages.ERROR)
            except ObjectDoesNotExist:
                self.message_user(request, _("%(row)s: it no longer exists.") % {"row": row}, messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, done_message(done), messages.SUCCESS)
        return done

    def note_page(self, request, *, rows, form, title, intro, submit_label, action=None, cancel_url):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "intro": intro,
            "rows": rows,
            "form": form,
            "action": action,
            "selected": [r.pk for r in rows] if action else [],
            "submit_label": submit_label,
            "cancel_url": cancel_url,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/incentives/action_note.html", context)


def service_action(service, key, description, done_message):
    """A list action (for the `decide` permission) calling `service(actor=user, <key>=row.pk)` once
    per selected row; `done_message(n)` says how many went through."""

    @admin.action(description=description, permissions=["decide"])
    def act(self, request, queryset):
        self.run_per_row(request, list(queryset.order_by("pk")),
                         lambda row: service(actor=request.user, **{key: row.pk}), done_message)

    return act


# --- the ledger ----------------------------------------------------------------------------------


class LedgerViews(ActionPageMixin):
    """The ledger's reversal (`services.entry_reverse`) and its Excel export."""

    def has_reverse_permission(self, request):
        return perm(request, "add", Entry)

    @staticmethod
    def reversible(entry):
        return not entry.reverses_id and getattr(entry, "reversed_by", None) is None

    @admin.action(description=gettext_lazy("Reverse the selected entries"), permissions=["reverse"])
    def reverse_entries(self, request, queryset):
        form = NoteForm(request.POST if "apply" in request.POST else None)
        rows = list(queryset.order_by("pk"))
        if form.is_bound and form.is_valid():
            self._reverse(request, rows, form.cleaned_data["note"])
            return None  # back to the list, with the messages
        return self.note_page(
            request, rows=rows, form=form, action="reverse_entries", title=_("Reverse points entries"),
            intro=_("Each entry gets a reversing entry of the opposite points; the entries themselves stay as "
                    "they are. Say why."),
            submit_label=_("Reverse"), cancel_url=reverse("admin:incentives_entry_changelist"),
        )

    def _reverse(self, request, rows, note):
        return self.run_per_row(
            request, rows, lambda e: services.entry_reverse(entry_id=e.pk, actor=request.user, note=note),
            lambda n: ngettext("%d entry reversed.", "%d entries reversed.", n) % n,
        )

    def reverse_view(self, request, object_id):
        entry = self.get_object(request, unquote(object_id))
        if entry is None:
            raise Http404
        if not (self.has_view_permission(request, entry) and self.has_reverse_permission(request)):
            raise PermissionDenied
        change_url = reverse("admin:incentives_entry_change", args=[entry.pk])
        form = NoteForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            self._reverse(request, [entry], form.cleaned_data["note"])
            return HttpResponseRedirect(change_url)
        return self.note_page(
            request, rows=[entry], form=form, title=_("Reverse points entry #%d") % entry.pk,
            intro=_("The entry gets a reversing entry of the opposite points; the entry itself stays as it is. "
                    "Say why."),
            submit_label=_("Reverse"), cancel_url=change_url,
        )

    def export_view(self, request):
        return changelist_export(self, request, excel.export_ledger, "points-ledger")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("export/", view(self.export_view), name="incentives_entry_export"),
            path("<path:object_id>/reverse/", view(self.reverse_view), name="incentives_entry_reverse"),
        ] + super().get_urls()


# --- rankings and honours ------------------------------------------------------------------------


class HonourViews:
    """The rankings (people's points: `view_account`) and an honour's A4 certificate."""

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("rankings/", view(self.rankings_view), name="incentives_honour_rankings"),
            path("rankings/export/", view(self.rankings_export_view), name="incentives_honour_rankings_export"),
            path("<path:object_id>/certificate/", view(self.certificate_view), name="incentives_honour_certificate"),
        ] + super().get_urls()

    def certificate_view(self, request, object_id):
        honour = self.get_object(request, unquote(object_id))
        if honour is None or not self.has_view_permission(request, honour):
            raise Http404
        node = honour.node
        street = node if node.level == Level.STREET else GridNode.objects.filter(pk=honour.street_id).first()
        return TemplateResponse(request, "incentives/certificate.html", {
            "honour": honour,
            "person_name": honour.person.name or honour.person.username,
            "period_text": period_label(honour.period),
            "awarded_by": node.name,
            "street_name": street.name if street is not None and street.pk != node.pk else "",
            "date": timezone.localtime(honour.created_at).date(),
        })

    @staticmethod
    def may_rank(request):
        return perm(request, "view", Account)

    def ranking_form(self, request):
        data = request.GET.copy()
        if "node" not in data:
            first = ranked_places(request.user).first()
            data["node"] = first.pk if first else ""
        # The first visit shows this month's points ranking of the user's first place.
        data.setdefault("period", current_month())
        data.setdefault("by", "points")
        return RankingForm(data, user=request.user)

    def rankings_view(self, request):
        if not self.may_rank(request):
            raise PermissionDenied
        form = self.ranking_form(request)
        rows, node, period, by = [], None, "", "points"
        if form.is_valid():
            node, period, by = form.cleaned_data["node"], form.cleaned_data["period"], form.cleaned_data["by"]
            rows = selectors.rankings(node, period, by, limit=100)
            may_honour = perm(request, "add", Honour) and node.pk in managed_ids(request)
            by_label = dict(RANKING_BY)[by]
            for row in rows:
                row["honour_url"] = (reverse("admin:incentives_honour_add") + "?" + urlencode({
                    "title": DEFAULT_HONOUR_TITLE, "period": period, "person": row["user"], "node": node.pk,
                    "citation": _("Ranked %(rank)s in %(place)s for %(period)s by %(by)s (%(value)s).") % {
                        "rank": row["rank"], "place": node.name, "period": period_label(period), "by": by_label,
                        "value": row["value"]},
                })) if may_honour else ""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Rankings"),
            "form": form,
            "rows": rows,
            "node": node,
            "period_text": period_label(period) if period else "",
            "by_label": dict(RANKING_BY).get(by, ""),
            "period_suggestions": period_suggestions(),
            "export_url": reverse("admin:incentives_honour_rankings_export") + "?" + urlencode(
                {"node": node.pk, "period": period, "by": by}) if node else "",
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/incentives/rankings.html", context)

    def rankings_export_view(self, request):
        if not self.may_rank(request):
            raise PermissionDenied
        form = self.ranking_form(request)
        if not form.is_valid():
            return HttpResponseRedirect(reverse("admin:incentives_honour_rankings") + "?" + request.GET.urlencode())
        d = form.cleaned_data
        rows = selectors.rankings(d["node"], d["period"], d["by"], limit=10_000)
        return xlsx_response(excel.export_ranking(rows, d["by"]), f"ranking-{d['node'].pk}-{d['period']}-{d['by']}")


# --- the fund ------------------------------------------------------------------------------------


class FundViews:
    """A fund's report as an Excel workbook."""

    def get_urls(self):
        return [
            path("<path:object_id>/report/export/", self.admin_site.admin_view(self.report_export_view),
                 name="incentives_fund_report_export"),
        ] + super().get_urls()

    def report_export_view(self, request, object_id):
        fund = self.get_object(request, unquote(object_id))
        if fund is None or not self.has_view_permission(request, fund):
            raise Http404
        data = excel.export_fund_report(fund, selectors.fund_report(fund))
        return xlsx_response(data, f"fund-{fund.pk}-report")
