"""The residents' report form (no account): what a phone in a WeChat browser posts to /r/<code>/."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from common.forms import add_service_errors
from grid.models import validate_phone
from grid.uploads import check_image

from .models import Category, CategoryGroup

HONEYPOT = "website"

# The service's error keys → this form's fields; anything else is shown above the form.
SERVICE_FIELDS = {
    "category": "category",
    "description": "description",
    "photos": "photo",
    "reporter_name": "name",
    "reporter_phone": "phone",
}


class PhoneField(forms.CharField):
    """138 1234 5678 and 028-8888 8888 as people type them: spaces go before the check."""

    def to_python(self, value):
        return "".join(super().to_python(value).split())


class ReportForm(forms.Form):
    category = forms.ModelChoiceField(
        label=_("What kind of problem?"), queryset=Category.objects.none(), empty_label=_("Choose a category"),
        error_messages={"required": _("Choose a category."),
                        "invalid_choice": _("Choose one of the categories in the list.")},
    )
    description = forms.CharField(
        label=_("What is wrong, and where?"), max_length=2000,
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": _("For example: the light in the stairwell of building 3, unit 2 has been broken for a week.")}),
        error_messages={"required": _("Describe the problem.")},
    )
    photo = forms.FileField(
        label=_("Photo (optional)"), required=False,
        widget=forms.FileInput(attrs={"accept": "image/*", "capture": "environment"}),
    )
    name = forms.CharField(label=_("Your name (optional)"), max_length=50, required=False,
                           widget=forms.TextInput(attrs={"autocomplete": "name"}))
    phone = PhoneField(
        label=_("Your phone (optional)"), max_length=20, required=False, validators=[validate_phone],
        help_text=_("Only the staff handling the problem see it, to call you back or to send you the feedback."),
        widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel", "autocomplete": "tel"}),
    )
    # The honeypot: hidden from people by CSS (not type=hidden, which bots skip), left empty by them.
    website = forms.CharField(label=_("Leave this field empty"), required=False,
                              widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["category"]
        field.queryset = Category.objects.filter(active=True)
        # Grouped as the street groups them (property services, environment, …), not by code.
        by_group = {}
        for c in field.queryset:
            by_group.setdefault(c.group, []).append((c.pk, c.name))
        field.choices = [("", field.empty_label)] + [
            (label, by_group[value]) for value, label in CategoryGroup.choices if value in by_group
        ]

    @property
    def is_bot(self):
        return bool(self.data.get(HONEYPOT, "").strip())

    def clean_photo(self):
        photo = self.cleaned_data.get("photo")
        if photo:
            check_image(photo)  # type, size and pixel count, as the service checks again
        return photo

    def add_service_errors(self, error: ValidationError):
        """Put the errors `issues.services.issue_report` raised next to the fields they concern (this
        form names some of them differently); the rest go on top."""
        add_service_errors(self, error, rename=SERVICE_FIELDS.get)
