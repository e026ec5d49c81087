"""The incentives in the street office's admin: point rules, the points ledger and accounts, rewards
and redemptions, rankings and honours (with a printable certificate), care visits, the expense fund
and its claims.

Every changelist is scoped through `incentives.selectors`, so an object outside the user's scope
answers 404. Every write goes through `incentives.services`: the add and change forms of rewards,
honours, care visits and funds hand their data to the service when the form is validated
(`ServiceForm`), so the service's refusals come back as field errors and nothing is written; the
ledger's reversal, the redemptions' fulfil/cancel and the claims' approve/reject/pay are admin actions
calling the service once per row, each row all or nothing, errors shown as messages. Point rules are
reference data kept with the model's own validation, as the ledger's categories are (issues/admin.py):
there is no service for them, and their code is fixed once created because the handlers find a rule
by its code.

Who may do what follows `incentives.apps.ADMIN_PERMISSIONS`: `add_entry` reverses entries,
`change_redemption` fulfils and cancels, `change_expenseclaim` decides and pays claims; rankings need
`view_account` (they show people's points). The services then check the role on the place.
"""

import datetime
from functools import partial

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_permission_codename
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from grid import selectors as grid_selectors
from grid.admin import ExcelMixin, NotFoundMixin, ReadOnlyMixin, ScopedAdmin, SubtreeFilter
from grid.models import GridNode, Level

from . import excel, selectors, services
from .models import (
    Account,
    CareVisit,
    Entry,
    ExpenseClaim,
    Fund,
    Honour,
    PointRule,
    Redemption,
    Reward,
)

# A title is data printed on a certificate, in the street's language; the staff may change it.
DEFAULT_HONOUR_TITLE = "优秀微网格长"


def _perm(request, action, model):
    opts = model._meta
    return request.user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")


def _error_text(error):
    if isinstance(error, ValidationError):
        return "；".join(error.messages)
    return str(error) or _("You may not do this here.")


def managed_ids(request):
    """`managed_nodes` of the request's user, computed once per request."""
    if not hasattr(request, "_incentives_managed"):
        request._incentives_managed = set(selectors.managed_nodes(request.user).values_list("pk", flat=True))
    return request._incentives_managed


def period_label(period):
    """'2026-11' → a month, '2026-Q4' → a quarter, '2026' → a year, in the user's language."""
    m = selectors.PERIOD_RE.match(str(period or "").strip())
    if not m:
        return period
    year, month, quarter = int(m.group(1)), m.group(2), m.group(3)
    if month:
        return _("month %(month)d of %(year)d") % {"month": int(month), "year": year}
    if quarter:
        return _("quarter %(quarter)d of %(year)d") % {"quarter": int(quarter), "year": year}
    return _("the year %(year)d") % {"year": year}


def node_choice_label(node):
    return ("— " if node.level == Level.COMMUNITY else "") + node.name


# --- filters -------------------------------------------------------------------------------------


class ScopeColumnsFilter(SubtreeFilter):
    """grid's subtree filter on the rows' indexed street and community columns (the filter offers
    streets and communities only)."""

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        node = grid_selectors.visible_node(request.user, self.value())
        if node is None:
            return queryset.none()
        if node.level == Level.STREET:
            return queryset.filter(street=node)
        return queryset.filter(community=node)


class FundFilter(admin.SimpleListFilter):
    """The funds the user sees (a plain related filter would list every street's funds)."""

    title = gettext_lazy("fund")
    parameter_name = "fund"

    def lookups(self, request, model_admin):
        return [(f.pk, f.name) for f in selectors.visible_funds(request.user).order_by("-starts_on", "name")]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(fund_id=int(value)) if str(value).isdigit() else queryset.none()


# --- forms written by the services ---------------------------------------------------------------


def add_service_errors(form, error):
    """A service's ValidationError onto the form: by field where the form has it, else on top."""
    if hasattr(error, "error_dict"):
        for key, msgs in error.message_dict.items():
            form.add_error(key if key in form.fields else None, msgs)
    else:
        form.add_error(None, error.messages)


class ServiceForm(forms.ModelForm):
    """An add or change form whose writing is the service's: once the form's own checks pass,
    validation ends by calling the service (inside the admin's transaction). What the service
    refuses comes back as the form's errors, the form is shown again and nothing is written."""

    submit = None  # set per request by ServiceFormMixin.get_form: form → the saved object
    saved = None

    def is_valid(self):
        if not super().is_valid():
            return False
        if self.saved is None:
            try:
                self.saved = self.submit(self)
            except ValidationError as e:
                add_service_errors(self, e)
                return False
            except (PermissionDenied, services.Conflict) as e:
                self.add_error(None, _error_text(e))
                return False
        return True


class ServiceFormMixin:
    """For a ModelAdmin whose form is a ServiceForm and which defines `submit(request, form)`: call
    the service with the form's data and return the saved object. The admin's own saving is skipped,
    since the service saved the object while the form was validated."""

    form = ServiceForm

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.submit = staticmethod(partial(self.submit, request))
        return form

    def save_form(self, request, form, change):
        return form.saved

    def save_model(self, request, obj, form, change):
        pass  # saved by the service during validation

    def save_related(self, request, form, formsets, change):
        pass  # likewise


class NoteForm(forms.Form):
    note = forms.CharField(label=gettext_lazy("note"), max_length=200,
                           widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


class RejectForm(forms.Form):
    note = forms.CharField(label=gettext_lazy("note"), max_length=300,
                           help_text=gettext_lazy("The leader reads this on their claim."),
                           widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


class ActionPageMixin:
    """Row actions that call a service once per row, and the intermediate page asking for a note."""

    def run_per_row(self, request, rows, call, done_message):
        """`call(row)` for each row; each call is the service's own transaction, so a refused row
        changes nothing and the others go on. Refusals are listed as error messages."""
        done = 0
        for row in rows:
            try:
                call(row)
            except (ValidationError, PermissionDenied, services.Conflict) as e:
                self.message_user(request, _("%(row)s: %(error)s") % {"row": row, "error": _error_text(e)},
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


# --- point rules ---------------------------------------------------------------------------------


@admin.register(PointRule)
class PointRuleAdmin(NotFoundMixin, admin.ModelAdmin):
    """Street staff add and change rules; none is deleted (the ledger's entries refer to them) —
    a rule no longer wanted is set inactive and earns nothing from then on."""

    list_display = ["code", "name", "points", "monthly_cap", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name"]
    fields = ["code", "name", "points", "monthly_cap", "active"]

    def get_readonly_fields(self, request, obj=None):
        # The handlers award by code: a renamed code would silently stop the automatic awards.
        return ["code"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


# --- the points ledger and accounts --------------------------------------------------------------


@admin.register(Entry)
class EntryAdmin(ActionPageMixin, ExcelMixin, ReadOnlyMixin, ScopedAdmin):
    """Read-only: the ledger is append-only. A mistake is corrected by a reversing entry
    (`services.entry_reverse`), from the list's action or the entry's own page."""

    change_list_template = "admin/incentives/entry/change_list.html"
    change_form_template = "admin/incentives/entry/change_form.html"
    list_display = ["created_at", "person", "points", "rule", "source", "note", "reverses_ref", "reversed_ref"]
    list_filter = ["rule", "created_at"]
    search_fields = ["account__user__username", "account__user__name"]
    list_per_page = 100
    show_full_result_count = False  # the ledger grows long: one count per page, not two
    fields = ["created_at", "person", "points", "rule", "source", "note", "reverses_ref", "reversed_ref", "actor"]
    readonly_fields = fields
    actions = ["reverse_entries"]

    def get_queryset(self, request):
        return selectors.visible_entries(request.user).select_related("account__user", "rule", "actor", "reversed_by")

    @admin.display(description=gettext_lazy("person"), ordering="account__user__username")
    def person(self, entry):
        user = entry.account.user
        return f"{user} ({user.username})" if user.name else user.username

    @admin.display(description=gettext_lazy("reverses"))
    def reverses_ref(self, entry):
        if not entry.reverses_id:
            return "—"
        return format_html('<a href="{}">#{}</a>', reverse("admin:incentives_entry_change", args=[entry.reverses_id]),
                           entry.reverses_id)

    @admin.display(description=gettext_lazy("reversed by"))
    def reversed_ref(self, entry):
        reversal = getattr(entry, "reversed_by", None)
        if reversal is None:
            return "—"
        return format_html('<a href="{}">#{}</a>', reverse("admin:incentives_entry_change", args=[reversal.pk]),
                           reversal.pk)

    # -- reversing --

    def has_reverse_permission(self, request):
        return _perm(request, "add", Entry)

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

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["may_reverse"] = self.has_reverse_permission(request) and self.reversible(obj)
            context["reverse_url"] = reverse("admin:incentives_entry_reverse", args=[obj.pk])
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    # -- export --

    def get_urls(self):
        # The ledger has no import: only ExcelMixin's export stays.
        urls = [u for u in super().get_urls() if getattr(u, "name", None) != "incentives_entry_import"]
        return [path("<path:object_id>/reverse/", self.admin_site.admin_view(self.reverse_view),
                     name="incentives_entry_reverse")] + urls

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            cl = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(reverse("admin:incentives_entry_changelist") + "?e=1")
        # Exactly the rows the list's filters and search select, in its order.
        return xlsx_response(excel.export_ledger(cl.get_queryset(request)), "points-ledger")


def xlsx_response(data, stem):
    response = HttpResponse(data, content_type=excel.XLSX)
    response["Content-Disposition"] = f'attachment; filename="{stem}-{timezone.localdate():%Y%m%d}.xlsx"'
    return response


@admin.register(Account)
class AccountAdmin(ReadOnlyMixin, ScopedAdmin):
    """Read-only: a balance is the sum of the account's entries, kept by the services."""

    change_list_template = "admin/incentives/account/change_list.html"
    list_display = ["username", "person", "balance", "ledger_link"]
    search_fields = ["user__username", "user__name"]
    list_per_page = 100
    fields = ["username", "person", "balance", "ledger_link"]
    readonly_fields = fields

    def get_queryset(self, request):
        return selectors.visible_accounts(request.user).select_related("user")

    @admin.display(description=gettext_lazy("username"), ordering="user__username")
    def username(self, account):
        return account.user.username

    @admin.display(description=gettext_lazy("person"), ordering="user__name")
    def person(self, account):
        return account.user.name or "—"

    @admin.display(description=gettext_lazy("entries"))
    def ledger_link(self, account):
        url = reverse("admin:incentives_entry_changelist") + "?" + urlencode({"account__id__exact": account.pk})
        return format_html('<a href="{}">{}</a>', url, _("ledger"))

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "rankings_url": reverse("admin:incentives_honour_rankings")}
        return super().changelist_view(request, extra_context)


# --- rewards and redemptions ---------------------------------------------------------------------

REWARD_FIELDS = ["name", "description", "cost", "stock", "active", "node"]


class RewardForm(ServiceForm):
    class Meta:
        model = Reward
        fields = REWARD_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "stock" in self.fields:
            # The stock shown is sent back with the form, so a stock left untouched is not written
            # over what was redeemed meanwhile (see `RewardAdmin.submit`).
            self.fields["stock"].show_hidden_initial = True
            self.fields["stock"].min_value = 0
            self.fields["stock"].widget.attrs["min"] = 0


class ManagedNodeMixin:
    """The `node` (the street or community that offers or keeps the row) is chosen among the places
    the user manages; a row of a place they do not manage is read-only for them."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "node" and field is not None:
            # After ScopedAdmin's choice of every visible node: only the places the user manages.
            field.queryset = selectors.managed_nodes(request.user)
            field.label_from_instance = node_choice_label
        return field

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or obj.node_id in managed_ids(request))


@admin.register(Reward)
class RewardAdmin(ServiceFormMixin, ManagedNodeMixin, ScopedAdmin):
    """Written by `services.reward_save`. A reward is never deleted (redemptions refer to it): it is
    set inactive, which takes it off the catalogue."""

    form = RewardForm
    list_display = ["name", "cost", "stock", "active", "node"]
    list_filter = ["active", ScopeColumnsFilter]
    search_fields = ["name"]
    list_select_related = ["node"]
    list_per_page = 100
    fields = REWARD_FIELDS

    def get_queryset(self, request):
        return selectors.visible_rewards(request.user).select_related("node")

    def has_delete_permission(self, request, obj=None):
        return False

    def submit(self, request, form):
        data = form.cleaned_data
        reward = form.instance if form.instance.pk else None
        # A change passes only what the user changed: the service writes nothing else.
        names = [f for f in (REWARD_FIELDS if reward is None else form.changed_data) if f != "node"]
        return services.reward_save(actor=request.user, reward=reward, node=data["node"],
                                    **{f: data[f] for f in names})


@admin.register(Redemption)
class RedemptionAdmin(ActionPageMixin, ReadOnlyMixin, ScopedAdmin):
    """Read-only rows: leaders redeem on the phone; the staff of the place that offers the reward
    hand it over (fulfil) or cancel it (points and stock come back) with the list's actions."""

    list_display = ["created_at", "person", "reward", "quantity", "points", "state", "decided_at", "decided_by"]
    list_filter = ["state", ScopeColumnsFilter]
    search_fields = ["account__user__username", "account__user__name", "reward__name"]
    list_per_page = 100
    fields = ["created_at", "person", "reward", "quantity", "points", "state", "decided_at", "decided_by"]
    readonly_fields = fields
    actions = ["fulfil", "cancel"]

    def get_queryset(self, request):
        return selectors.visible_redemptions(request.user).select_related("account__user", "reward", "decided_by")

    @admin.display(description=gettext_lazy("person"), ordering="account__user__username")
    def person(self, redemption):
        return str(redemption.account.user)

    def has_decide_permission(self, request):
        return _perm(request, "change", Redemption)

    @admin.action(description=gettext_lazy("Hand over the selected rewards (fulfil)"), permissions=["decide"])
    def fulfil(self, request, queryset):
        self.run_per_row(
            request, list(queryset.order_by("pk")),
            lambda r: services.redemption_fulfil(actor=request.user, redemption_id=r.pk),
            lambda n: ngettext("%d redemption fulfilled.", "%d redemptions fulfilled.", n) % n,
        )

    @admin.action(description=gettext_lazy("Cancel the selected redemptions (points and stock come back)"),
                  permissions=["decide"])
    def cancel(self, request, queryset):
        self.run_per_row(
            request, list(queryset.order_by("pk")),
            lambda r: services.redemption_cancel(actor=request.user, redemption_id=r.pk),
            lambda n: ngettext("%d redemption cancelled.", "%d redemptions cancelled.", n) % n,
        )


# --- rankings and honours ------------------------------------------------------------------------

RANKING_BY = [("points", gettext_lazy("points earned")),
              ("satisfied", gettext_lazy("issues closed with a satisfied resident")),
              ("worklogs", gettext_lazy("work logs"))]


def period_suggestions(today=None):
    """This and last month, quarter and year, for the period field's list."""
    today = today or timezone.localdate()
    last_month = today.replace(day=1) - datetime.timedelta(days=1)
    quarter = (today.month - 1) // 3 + 1
    last_quarter = (today.year, quarter - 1) if quarter > 1 else (today.year - 1, 4)
    return [f"{today:%Y-%m}", f"{last_month:%Y-%m}", f"{today.year}-Q{quarter}",
            f"{last_quarter[0]}-Q{last_quarter[1]}", f"{today.year}", f"{today.year - 1}"]


class RankingForm(forms.Form):
    node = forms.ModelChoiceField(label=gettext_lazy("street or community"), queryset=GridNode.objects.none())
    period = forms.CharField(
        label=gettext_lazy("period"), max_length=10,
        widget=forms.TextInput(attrs={"list": "ranking-periods", "size": 10}),
        help_text=gettext_lazy("A month (2026-11), a quarter (2026-Q4) or a year (2026)."),
    )
    by = forms.ChoiceField(label=gettext_lazy("ranked by"), choices=RANKING_BY)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["node"]
        field.queryset = (grid_selectors.visible_nodes(user).filter(level__lte=Level.COMMUNITY)
                          .order_by("tree_id", "lft"))
        field.label_from_instance = node_choice_label

    def clean_period(self):
        value = self.cleaned_data["period"].strip()
        try:
            selectors.parse_period(value)
        except ValidationError as e:
            raise ValidationError(e.message_dict["period"]) from None
        return value


class HonourForm(ServiceForm):
    class Meta:
        model = Honour
        fields = ["title", "period", "person", "node", "citation"]
        widgets = {"period": forms.TextInput(attrs={"list": "ranking-periods", "size": 10})}
        help_texts = {"period": gettext_lazy("A month (2026-11), a quarter (2026-Q4) or a year (2026).")}

    def clean_period(self):
        value = self.cleaned_data["period"].strip()
        try:
            selectors.parse_period(value)
        except ValidationError as e:
            raise ValidationError(e.message_dict["period"]) from None
        return value


@admin.register(Honour)
class HonourAdmin(ServiceFormMixin, ManagedNodeMixin, ScopedAdmin):
    """Honours are given through `services.honour_create`, usually from a ranking (the rankings page
    prefills the form), and are not changed afterwards. Each has a printable A4 certificate."""

    form = HonourForm
    change_list_template = "admin/incentives/honour/change_list.html"
    change_form_template = "admin/incentives/honour/change_form.html"
    list_display = ["period", "title", "person", "node", "created_by", "created_at", "certificate_link"]
    list_filter = ["period", "title", ScopeColumnsFilter]
    search_fields = ["title", "person__username", "person__name"]
    list_select_related = ["person", "node", "created_by"]
    list_per_page = 100

    def get_queryset(self, request):
        return selectors.visible_honours(request.user).select_related("person", "node", "created_by")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["title", "period", "person", "node", "citation"]
        return ["title", "period", "person", "node", "citation", "created_by", "created_at", "certificate_link"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        return False  # given once; a wrong honour is a matter for the records, not an edit

    def has_delete_permission(self, request, obj=None):
        return False

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("title", DEFAULT_HONOUR_TITLE)
        initial.setdefault("period", f"{timezone.localdate():%Y-%m}")
        return initial

    def submit(self, request, form):
        d = form.cleaned_data
        return services.honour_create(actor=request.user, title=d["title"], period=d["period"], person=d["person"],
                                      node=d["node"], citation=d.get("citation") or "")

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["period_suggestions"] = period_suggestions()
        if obj is not None:
            context["certificate_url"] = reverse("admin:incentives_honour_certificate", args=[obj.pk])
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}),
                         "rankings_url": reverse("admin:incentives_honour_rankings") if self.may_rank(request) else ""}
        return super().changelist_view(request, extra_context)

    @admin.display(description=gettext_lazy("certificate"))
    def certificate_link(self, honour):
        return format_html('<a href="{}" target="_blank">{}</a>',
                           reverse("admin:incentives_honour_certificate", args=[honour.pk]), _("print"))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("rankings/", view(self.rankings_view), name="incentives_honour_rankings"),
            path("rankings/export/", view(self.rankings_export_view), name="incentives_honour_rankings_export"),
            path("<path:object_id>/certificate/", view(self.certificate_view), name="incentives_honour_certificate"),
        ] + super().get_urls()

    # -- the certificate --

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

    # -- rankings --

    @staticmethod
    def may_rank(request):
        return _perm(request, "view", Account)

    def ranking_form(self, request):
        data = request.GET.copy()
        if "node" not in data:
            first = grid_selectors.visible_nodes(request.user).filter(level__lte=Level.COMMUNITY).order_by(
                "tree_id", "lft").first()
            data["node"] = first.pk if first else ""
        # The first visit shows this month's points ranking of the user's first place.
        data.setdefault("period", f"{timezone.localdate():%Y-%m}")
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
            may_honour = _perm(request, "add", Honour) and node.pk in managed_ids(request)
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


# --- care visits ---------------------------------------------------------------------------------


class CareVisitForm(ServiceForm):
    class Meta:
        model = CareVisit
        fields = ["date", "leader", "occasion", "gift"]

    def clean_date(self):
        date = self.cleaned_data["date"]
        if date > timezone.localdate():
            raise ValidationError(_("A visit cannot be recorded before it took place."))
        return date


@admin.register(CareVisit)
class CareVisitAdmin(ServiceFormMixin, ScopedAdmin):
    """Recorded through `services.carevisit_create` (the visitor is the user; the place is the
    leader's community), then read-only."""

    form = CareVisitForm
    list_display = ["date", "leader", "occasion", "gift", "visitor", "node"]
    list_filter = ["occasion", ScopeColumnsFilter]
    search_fields = ["leader__username", "leader__name", "occasion"]
    list_select_related = ["leader", "visitor", "node"]
    list_per_page = 100
    date_hierarchy = "date"

    def get_queryset(self, request):
        return selectors.visible_carevisits(request.user).select_related("leader", "visitor", "node")

    def get_fields(self, request, obj=None):
        return ["date", "leader", "occasion", "gift"] + ([] if obj is None else ["visitor", "node"])

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_changeform_initial_data(self, request):
        return {"date": timezone.localdate(), **super().get_changeform_initial_data(request)}

    def submit(self, request, form):
        d = form.cleaned_data
        return services.carevisit_create(actor=request.user, leader=d["leader"], date=d["date"],
                                         occasion=d["occasion"], gift=d.get("gift") or "")


# --- the expense fund and its claims -------------------------------------------------------------

FUND_FIELDS = ["name", "node", "budget", "starts_on", "ends_on", "closed"]


class FundForm(ServiceForm):
    class Meta:
        model = Fund
        fields = FUND_FIELDS

    def clean(self):
        data = super().clean()
        starts, ends = data.get("starts_on"), data.get("ends_on")
        if starts and ends and ends < starts:
            self.add_error("ends_on", _("The last day comes before the first."))
        return data


@admin.register(Fund)
class FundAdmin(ServiceFormMixin, ManagedNodeMixin, ScopedAdmin):
    """Written by `services.fund_save`; `approved` and `paid` move only with the claims. The change
    page shows the fund's report (budget, approved, paid, remaining, by kind and by community) and
    its Excel export."""

    form = FundForm
    change_form_template = "admin/incentives/fund/change_form.html"
    list_display = ["name", "node", "budget", "approved", "paid", "remaining_amount", "starts_on", "ends_on", "closed"]
    list_filter = ["closed", ScopeColumnsFilter]
    search_fields = ["name"]
    list_select_related = ["node"]
    readonly_fields = ["approved", "paid", "remaining_amount"]

    def get_queryset(self, request):
        return selectors.visible_funds(request.user).select_related("node")

    def get_fields(self, request, obj=None):
        return FUND_FIELDS + ([] if obj is None else ["approved", "paid", "remaining_amount"])

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("remaining"))
    def remaining_amount(self, fund):
        return fund.remaining

    def submit(self, request, form):
        d = form.cleaned_data
        fund = form.instance if form.instance.pk else None
        return services.fund_save(actor=request.user, fund=fund, node=d["node"],
                                  **{f: d[f] for f in FUND_FIELDS if f != "node"})

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            report = selectors.fund_report(obj)
            kinds = dict(ExpenseClaim._meta.get_field("kind").choices)
            context["fund_report"] = {
                **report,
                "by_kind": [{"kind": kinds.get(k, k), **v} for k, v in report["by_kind"].items()],
            }
            context["report_export_url"] = reverse("admin:incentives_fund_report_export", args=[obj.pk])
            context["claims_url"] = reverse("admin:incentives_expenseclaim_changelist") + f"?fund={obj.pk}"
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

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


@admin.register(ExpenseClaim)
class ExpenseClaimAdmin(ActionPageMixin, ReadOnlyMixin, ScopedAdmin):
    """Read-only rows: leaders claim on the phone with a receipt photo; the staff who keep the fund
    approve (drawing on the fund, never past its budget), reject with a note, or pay, with the
    list's actions."""

    list_display = ["submitted_at", "leader", "community", "grid", "kind", "amount", "date", "fund", "state",
                    "receipt_thumb", "decision_note"]
    list_filter = ["state", "kind", FundFilter, ScopeColumnsFilter]
    search_fields = ["leader__username", "leader__name", "note"]
    list_per_page = 100
    fields = ["fund", "leader", "grid", "kind", "amount", "date", "note", "receipt_image", "state", "submitted_at",
              "decided_at", "decided_by", "decision_note", "paid_at"]
    readonly_fields = fields
    actions = ["approve", "reject", "pay"]

    def get_queryset(self, request):
        return selectors.visible_claims(request.user).select_related("leader", "community", "grid", "fund",
                                                                     "decided_by")

    @admin.display(description=gettext_lazy("receipt"))
    def receipt_thumb(self, claim):
        if not claim.receipt:
            return "—"
        return format_html('<a href="{0}" target="_blank"><img src="{0}" alt="{1}" class="receipt-thumb" '
                           'style="max-height:40px;max-width:60px"></a>', claim.receipt.url, _("receipt"))

    @admin.display(description=gettext_lazy("receipt"))
    def receipt_image(self, claim):
        if not claim.receipt:
            return "—"
        return format_html('<a href="{0}" target="_blank"><img src="{0}" alt="{1}" style="max-height:240px;'
                           'max-width:320px"></a>', claim.receipt.url, _("receipt"))

    def has_decide_permission(self, request):
        return _perm(request, "change", ExpenseClaim)

    @admin.action(description=gettext_lazy("Approve the selected claims (draws on the fund)"), permissions=["decide"])
    def approve(self, request, queryset):
        self.run_per_row(
            request, list(queryset.order_by("pk")),
            lambda c: services.claim_approve(actor=request.user, claim_id=c.pk),
            lambda n: ngettext("%d claim approved.", "%d claims approved.", n) % n,
        )

    @admin.action(description=gettext_lazy("Reject the selected claims (with a note)"), permissions=["decide"])
    def reject(self, request, queryset):
        form = RejectForm(request.POST if "apply" in request.POST else None)
        rows = list(queryset.order_by("pk"))
        if form.is_bound and form.is_valid():
            note = form.cleaned_data["note"]
            self.run_per_row(
                request, rows, lambda c: services.claim_reject(actor=request.user, claim_id=c.pk, note=note),
                lambda n: ngettext("%d claim rejected.", "%d claims rejected.", n) % n,
            )
            return None
        return self.note_page(
            request, rows=rows, form=form, action="reject", title=_("Reject expense claims"),
            intro=_("Say why the claims are rejected."), submit_label=_("Reject"),
            cancel_url=reverse("admin:incentives_expenseclaim_changelist"),
        )

    @admin.action(description=gettext_lazy("Mark the selected approved claims paid"), permissions=["decide"])
    def pay(self, request, queryset):
        self.run_per_row(
            request, list(queryset.order_by("pk")),
            lambda c: services.claim_pay(actor=request.user, claim_id=c.pk),
            lambda n: ngettext("%d claim paid.", "%d claims paid.", n) % n,
        )
