"""Forms of the mobile points pages: redeeming a reward, an expense claim with its receipt photo, and
the ranking's period and measure.

The forms check the shape of the input (whole numbers, two decimals, a date, an image); the business
rules (stock, points, the fund's period, whose micro-grid) stay in `incentives.services`, whose field
errors the views put back on these forms (common.forms.run_service).
"""

from decimal import Decimal

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from common.periods import month_label
from grid import selectors as grid_selectors
from grid.uploads import check_image

from . import selectors, services
from .models import ClaimKind, Fund

# The ranking's presets: the current month, quarter or year.
PERIODS = [("month", _("This month")), ("quarter", _("This quarter")), ("year", _("This year"))]
MEASURES = [("points", _("Points")), ("satisfied", _("Satisfied closures")), ("worklogs", _("Work logs"))]


class RedeemForm(forms.Form):
    quantity = forms.IntegerField(
        label=_("Quantity"), min_value=1, max_value=services.MAX_QUANTITY, initial=1,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "min": 1, "max": services.MAX_QUANTITY}),
    )

    def __init__(self, *args, reward, **kwargs):
        kwargs.setdefault("auto_id", f"id_r{reward.pk}_%s")  # one form per reward on the catalogue page
        super().__init__(*args, **kwargs)
        self.reward = reward


def open_funds(user):
    """The open funds of the streets and communities the user's places lie in."""
    qs = selectors.visible_funds(user).filter(closed=False)
    if not user.is_superuser:
        qs = qs.filter(selectors.offered_to_q(user))
    return qs.order_by("-starts_on", "name")


class ClaimForm(forms.Form):
    fund = forms.ModelChoiceField(queryset=Fund.objects.none(), label=_("Fund"),
                                  error_messages={"invalid_choice": _("Choose a fund of your street or community.")})
    grid = forms.ModelChoiceField(queryset=None, label=_("Micro-grid"))
    kind = forms.ChoiceField(label=_("Kind"), choices=ClaimKind.choices, widget=forms.RadioSelect,
                             initial=ClaimKind.MEAL)
    amount = forms.DecimalField(
        label=_("Amount (yuan)"), min_value=Decimal("0.01"), max_value=services.MAX_CLAIM, decimal_places=2,
        max_digits=10,
        widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": "0.01", "min": "0.01"}),
        error_messages={"max_decimal_places": _("At most two decimal places (fen)."),
                        "invalid": _("Enter an amount in yuan such as 35.50.")},
    )
    date = forms.DateField(label=_("Date of the expense"),
                           widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    note = forms.CharField(label=_("Note"), required=False, max_length=300, widget=forms.Textarea(attrs={"rows": 2}))
    receipt = forms.FileField(
        label=_("Receipt photo"), required=False,
        widget=forms.FileInput(attrs={"accept": "image/*", "capture": "environment"}),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["fund"].queryset = open_funds(user)
        self.funds = list(self.fields["fund"].queryset)
        # Rendered from the list just read, not by a second query.
        self.fields["fund"].widget.choices = [(f.pk, f.name) for f in self.funds]
        if len(self.funds) != 1:
            self.fields["fund"].widget.choices.insert(0, ("", "---------"))
        self.grids = list(grid_selectors.my_microgrids(user))
        self.fields["grid"].queryset = grid_selectors.my_microgrids(user)
        if len(self.grids) <= 1:
            # A leader of one micro-grid claims for it without being asked.
            del self.fields["grid"]
        self.initial.setdefault("date", timezone.localdate())

    def clean_receipt(self):
        upload = self.cleaned_data.get("receipt")
        if upload:
            check_image(upload)
        return upload

    def service_data(self):
        d = self.cleaned_data
        return {"fund_id": d["fund"].pk, "kind": d["kind"], "amount": d["amount"], "date": d["date"],
                "grid": d.get("grid") or (self.grids[0] if self.grids else None), "note": d["note"],
                "receipt": d["receipt"]}


def period_of(preset, today=None):
    """The `selectors.rankings` period string of a preset: '2026-11', '2026-Q4' or '2026'."""
    today = today or timezone.localdate()
    if preset == "year":
        return f"{today.year}"
    if preset == "quarter":
        return f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    return month_label(today)


class RankingForm(forms.Form):
    period = forms.ChoiceField(choices=PERIODS, required=False)
    by = forms.ChoiceField(choices=MEASURES, required=False)

    def choice(self):
        """(preset, measure) asked for; this month by points when nothing valid is."""
        self.is_valid()  # a bad value of one leaves the other as asked
        d = self.cleaned_data
        return d.get("period") or "month", d.get("by") or "points"
