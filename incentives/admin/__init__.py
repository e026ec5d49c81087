"""The incentives in the street office's admin: point rules, the points ledger and accounts, rewards
and redemptions, rankings and honours (with a printable certificate), care visits, the expense fund
and its claims.

Every changelist is scoped through `incentives.selectors`, so an object outside the user's scope
answers 404. Every write goes through `incentives.services`: the add and change forms of rules,
rewards, honours, care visits and funds hand their data to the service when the form is validated
(`common.forms.ServiceForm`), so the service's refusals come back as field errors and nothing is
written; the ledger's reversal, the redemptions' fulfil/cancel and the claims' approve/reject/pay are
admin actions calling the service once per row, each row all or nothing, errors shown as messages.
A rule's code is fixed once created because the handlers find a rule by its code.

Who may do what follows `incentives.apps.ADMIN_PERMISSIONS`: `add_entry` reverses entries,
`change_redemption` fulfils and cancels, `change_expenseclaim` decides and pays claims; rankings need
`view_account` (they show people's points). The services then check the role on the place.

The package: `forms` (the forms), `presentation` (labels, filters, links), `views` (the custom pages
and row actions), and here the registers.
"""

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from common.admin import BaseAdmin, ReadOnlyMixin
from common.forms import ServiceFormMixin
from common.periods import current_month
from grid.admin import ScopedAdmin

from .. import selectors, services
from ..models import Account, CareVisit, Entry, ExpenseClaim, Fund, Honour, PointRule, Redemption, Reward
from .forms import (
    FUND_FIELDS,
    REWARD_FIELDS,
    RULE_FIELDS,
    CareVisitForm,
    FundForm,
    HonourForm,
    PointRuleForm,
    RejectForm,
    RewardForm,
)
from .presentation import (
    DEFAULT_HONOUR_TITLE,
    FundFilter,
    ScopeFilter,
    entry_link,
    managed_ids,
    node_choice_label,
    perm,
    period_suggestions,
    receipt_html,
)
from .views import ActionPageMixin, FundViews, HonourViews, LedgerViews, service_action


class Scoped(ScopedAdmin):
    """grid's scoped admin, with ids and the changelist's query checked first."""


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


# --- point rules ---------------------------------------------------------------------------------


@admin.register(PointRule)
class PointRuleAdmin(ServiceFormMixin, BaseAdmin):
    """Street staff add and change rules through `services.pointrule_save`; none is deleted (the
    ledger's entries refer to them) — a rule no longer wanted is set inactive and earns nothing."""

    form = PointRuleForm
    list_display = ["code", "name", "points", "monthly_cap", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name"]
    fields = RULE_FIELDS

    def get_readonly_fields(self, request, obj=None):
        # The handlers award by code: a renamed code would silently stop the automatic awards.
        return ["code"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def submit(self, request, form):
        rule = form.instance if form.instance.pk else None
        return services.pointrule_save(actor=request.user, rule=rule,
                                       **{f: form.cleaned_data[f] for f in RULE_FIELDS if f in form.cleaned_data})


# --- the points ledger and accounts --------------------------------------------------------------


@admin.register(Entry)
class EntryAdmin(LedgerViews, ReadOnlyMixin, Scoped):
    """Read-only: the ledger is append-only. A mistake is corrected by a reversing entry
    (`services.entry_reverse`), from the list's action or the entry's own page; the list exports
    to Excel exactly as filtered."""

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
        return entry_link(entry.reverses_id)

    @admin.display(description=gettext_lazy("reversed by"))
    def reversed_ref(self, entry):
        reversal = getattr(entry, "reversed_by", None)
        return entry_link(reversal.pk if reversal is not None else None)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["may_reverse"] = self.has_reverse_permission(request) and self.reversible(obj)
            context["reverse_url"] = reverse("admin:incentives_entry_reverse", args=[obj.pk])
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)


@admin.register(Account)
class AccountAdmin(ReadOnlyMixin, Scoped):
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


@admin.register(Reward)
class RewardAdmin(ServiceFormMixin, ManagedNodeMixin, Scoped):
    """Written by `services.reward_save`. A reward is never deleted (redemptions refer to it): it is
    set inactive, which takes it off the catalogue."""

    form = RewardForm
    list_display = ["name", "cost", "stock", "active", "node"]
    list_filter = ["active", ScopeFilter]
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
class RedemptionAdmin(ActionPageMixin, ReadOnlyMixin, Scoped):
    """Read-only rows: leaders redeem on the phone; the staff of the place that offers the reward
    hand it over (fulfil) or cancel it (points and stock come back) with the list's actions."""

    list_display = ["created_at", "person", "reward", "quantity", "points", "state", "decided_at", "decided_by"]
    list_filter = ["state", ScopeFilter]
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
        return perm(request, "change", Redemption)

    fulfil = service_action(
        services.redemption_fulfil, "redemption_id", gettext_lazy("Hand over the selected rewards (fulfil)"),
        lambda n: ngettext("%d redemption fulfilled.", "%d redemptions fulfilled.", n) % n)
    cancel = service_action(
        services.redemption_cancel, "redemption_id",
        gettext_lazy("Cancel the selected redemptions (points and stock come back)"),
        lambda n: ngettext("%d redemption cancelled.", "%d redemptions cancelled.", n) % n)


# --- honours -------------------------------------------------------------------------------------


@admin.register(Honour)
class HonourAdmin(HonourViews, ServiceFormMixin, ManagedNodeMixin, Scoped):
    """Honours are given through `services.honour_create`, usually from a ranking (the rankings page
    prefills the form), and are not changed afterwards. Each has a printable A4 certificate."""

    form = HonourForm
    change_list_template = "admin/incentives/honour/change_list.html"
    change_form_template = "admin/incentives/honour/change_form.html"
    list_display = ["period", "title", "person", "node", "created_by", "created_at", "certificate_link"]
    list_filter = ["period", "title", ScopeFilter]
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
        initial.setdefault("period", current_month())
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


# --- care visits ---------------------------------------------------------------------------------


@admin.register(CareVisit)
class CareVisitAdmin(ServiceFormMixin, Scoped):
    """Recorded through `services.carevisit_create` (the visitor is the user; the place is the
    leader's community), then read-only."""

    form = CareVisitForm
    list_display = ["date", "leader", "occasion", "gift", "visitor", "node"]
    list_filter = ["occasion", ScopeFilter]
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


@admin.register(Fund)
class FundAdmin(FundViews, ServiceFormMixin, ManagedNodeMixin, Scoped):
    """Written by `services.fund_save`; `approved` and `paid` move only with the claims. The change
    page shows the fund's report (budget, approved, paid, remaining, by kind and by community) and
    its Excel export."""

    form = FundForm
    change_form_template = "admin/incentives/fund/change_form.html"
    list_display = ["name", "node", "budget", "approved", "paid", "remaining_amount", "starts_on", "ends_on", "closed"]
    list_filter = ["closed", ScopeFilter]
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


@admin.register(ExpenseClaim)
class ExpenseClaimAdmin(ActionPageMixin, ReadOnlyMixin, Scoped):
    """Read-only rows: leaders claim on the phone with a receipt photo; the staff who keep the fund
    approve (drawing on the fund, never past its budget), reject with a note, or pay, with the
    list's actions."""

    list_display = ["submitted_at", "leader", "community", "grid", "kind", "amount", "date", "fund", "state",
                    "receipt_thumb", "decision_note"]
    list_filter = ["state", "kind", FundFilter, ScopeFilter]
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
        return receipt_html(claim, 40, 60, "receipt-thumb")

    @admin.display(description=gettext_lazy("receipt"))
    def receipt_image(self, claim):
        return receipt_html(claim, 240, 320)

    def has_decide_permission(self, request):
        return perm(request, "change", ExpenseClaim)

    approve = service_action(
        services.claim_approve, "claim_id", gettext_lazy("Approve the selected claims (draws on the fund)"),
        lambda n: ngettext("%d claim approved.", "%d claims approved.", n) % n)
    pay = service_action(
        services.claim_pay, "claim_id", gettext_lazy("Mark the selected approved claims paid"),
        lambda n: ngettext("%d claim paid.", "%d claims paid.", n) % n)

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
