"""Forms of the mobile ledger pages: reporting an issue, and one small form per workflow action.

The forms check the shape of the input (required, length, choices, image type); the business rules
(state, role, who may verify, which organisation) stay in `issues.services`, whose field errors the
views put back on these forms.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from common.forms import ServiceErrorsMixin, add_service_errors
from grid import access
from grid import selectors as grid_selectors
from grid.models import GridNode, Level, Organisation, OrgKind, Role, RoleAssignment
from grid.scoped import NUL
from grid.uploads import check_image

from . import services, workflow
from .models import Category, CategoryGroup, FeedbackChannel, Priority, Satisfaction, Source
from .selectors import visible_issues

# What a person reporting through the mobile pages may give as the source; `resident` is the public page's.
REPORT_SOURCES = [(s.value, s.label) for s in (Source.VISIT, Source.PATROL, Source.HOTLINE, Source.OTHER)]
# Above this many micro-grids in scope (street staff), the place is typed as a code instead of picked.
MAX_PLACE_CHOICES = 300

ACTION_LABELS = workflow.ACTION_LABELS

# The note's label says what the note is for in each action.
NOTE_LABELS = {
    "resolve_on_spot": _("How it was resolved"),
    "submit_done": _("What was done"),
    "reject": _("What is still wrong"),
    "return": _("Why it goes back"),
    "refer_analysis": _("Why it needs joint analysis"),
    "escalate": _("Why it needs joint disposal"),
    "reopen": _("Why it is reopened"),
}

FEEDBACK_CHANNELS = FeedbackChannel.choices
SATISFACTION = Satisfaction.choices

class MultiplePhotoInput(forms.FileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Zero to MAX_PHOTOS images from the phone's camera, each checked for type, size and pixels."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", _("Photos"))
        kwargs.setdefault("widget", MultiplePhotoInput(attrs={"accept": "image/*", "capture": "environment"}))
        super().__init__(**kwargs)

    def clean(self, data, initial=None):
        one = super().clean
        files = [one(f, initial) for f in data if f] if isinstance(data, (list, tuple)) else ([one(data, initial)] if data else [])
        if len(files) > services.MAX_PHOTOS:
            raise ValidationError(_("At most %(n)d photos.") % {"n": services.MAX_PHOTOS}, code="too_many_photos")
        for f in files:
            check_image(f)
        return files


def when_field(**kwargs):
    # Read by services.parse_when once the rest of the form is whole ("2026-12-01 17:30", the browser's
    # "2026-12-01T17:30", a bare date as the close of that working day), so the service gets a datetime.
    return forms.CharField(
        max_length=40, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        **kwargs,
    )


def text_area(rows=3):
    return forms.Textarea(attrs={"rows": rows})


# --- reporting ------------------------------------------------------------------------------------


def place_label(node, path):
    """'微网格A1 · 小区A': the node's name with its compound, which tells same-named micro-grids apart."""
    compound = next((a for a in path if a.level == Level.COMPOUND and a.pk != node.pk), None)
    return f"{node.name} · {compound.name}" if compound else node.name


class ReportForm(ServiceErrorsMixin, forms.Form):
    grid = forms.ModelChoiceField(queryset=GridNode.objects.none(), to_field_name="code", label=_("Place"),
                                  error_messages={"invalid_choice": _("Choose a place in your grid.")})
    category = forms.ModelChoiceField(queryset=Category.objects.none(), label=_("Category"))
    description = forms.CharField(label=_("Description"), max_length=2000, widget=text_area(4))
    location = forms.CharField(label=_("Location"), max_length=200, required=False,
                               help_text=_("Building, unit and room, or a landmark."))
    priority = forms.ChoiceField(label=_("Priority"), choices=Priority.choices, initial=Priority.NORMAL)
    source = forms.ChoiceField(label=_("Source"), choices=REPORT_SOURCES, initial=Source.VISIT,
                               widget=forms.RadioSelect)
    photos = PhotosField()

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        visible = grid_selectors.visible_nodes(user)
        self.fields["grid"].queryset = visible
        categories = list(Category.objects.filter(active=True))
        self.fields["category"].queryset = Category.objects.filter(active=True)
        self.fields["category"].widget.choices = [("", "---------")] + [
            (label, [(c.pk, c.name) for c in categories if c.group == group])
            for group, label in CategoryGroup.choices if any(c.group == group for c in categories)
        ]
        self.offered = self._places(user, visible)
        if self.offered is None:
            # Too many to pick from (street staff): the micro-grid's code, as on its notice board.
            self.fields["grid"].widget = forms.TextInput(attrs={"autocapitalize": "characters"})
            self.fields["grid"].label = _("Place code")
            self.fields["grid"].help_text = _("The code of the micro-grid, as printed on its notice board.")
        else:
            self.fields["grid"].widget.choices = [(n.code, label) for n, label in self.offered]
            if len(self.offered) != 1:
                self.fields["grid"].widget.choices.insert(0, ("", "---------"))

    def _places(self, user, visible):
        """[(node, label)] to choose from: the user's own micro-grids, the node they came from, or — for
        a user without micro-grids of their own — every micro-grid in their scope. None when too many."""
        own = list(grid_selectors.my_microgrids(user))
        wanted = self.data.get("grid") if self.is_bound else self.initial.get("grid")
        if isinstance(wanted, str) and (NUL in wanted or len(wanted) > GridNode._meta.get_field("code").max_length):
            wanted = None  # not a code: nothing to look up
        if wanted and not any(n.code == wanted for n in own):
            came_from = visible.filter(code=wanted).first()
            if came_from is not None:
                own.insert(0, came_from)
        if own:
            paths = grid_selectors.node_paths(own)
            return [(n, place_label(n, paths[n.pk])) for n in own]
        # One query for the micro-grids and the compounds above them, walked in tree order.
        limit = MAX_PLACE_CHOICES * 4
        nodes = list(visible.filter(level__in=[Level.COMPOUND, Level.MICROGRID]).order_by(*access.tree_order())[:limit])
        grids = [n for n in nodes if n.level == Level.MICROGRID]
        if len(grids) > MAX_PLACE_CHOICES or len(nodes) == limit:
            return None
        if not grids:
            return []
        out, compound = [], None
        for n in nodes:
            if n.level == Level.COMPOUND:
                compound = n
            else:
                inside = compound is not None and access.within(compound, n)
                out.append((n, place_label(n, [compound] if inside else [])))
        return out


# --- workflow actions -----------------------------------------------------------------------------


class ActionForm(ServiceErrorsMixin, forms.Form):
    """The fields of one workflow action for one issue (the workflow table's rule), for the mobile
    pages and the admin alike. `rule` defaults to the one of the issue's current state."""

    required_css_class = "required"
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, issue, action, user, rule=None, **kwargs):
        kwargs.setdefault("auto_id", f"id_{action}_%s")  # several of these forms share one page
        super().__init__(*args, **kwargs)
        self.issue, self.action, self.user = issue, action, user
        self.label = ACTION_LABELS.get(action, action)
        rule = rule or workflow.rule_for(issue.state, action)
        names = list(rule.required) + [n for n in rule.optional if n not in rule.required]
        for name in names:
            self.fields[name] = self._field(name, name in rule.required)
        if action in ("submit_done", "resolve_on_spot"):
            self.fields["photos"] = PhotosField()
        self.initial.setdefault("version", issue.version)
        if action == "assign":
            self._assign_defaults()

    def _field(self, name, required):
        a = self.action
        if name == "note":
            return forms.CharField(label=NOTE_LABELS.get(a, _("Note")), required=required, max_length=2000,
                                   widget=text_area())
        if name == "plan":
            return forms.CharField(label=_("Disposal plan"), required=required, max_length=2000, widget=text_area(4))
        if name == "announcement":
            return forms.CharField(label=_("Public announcement"), required=required, max_length=2000,
                                   widget=text_area(4), help_text=_("Residents read this on the public notice list."))
        if name == "text":
            return forms.CharField(label=_("What the resident was told"), required=required, max_length=2000,
                                   widget=text_area())
        if name == "reason":
            # The issue keeps at most 500 characters of an extension's reason.
            return forms.CharField(label=_("Reason"), required=required, max_length=500, widget=text_area(2))
        if name == "handler_org":
            return forms.ModelChoiceField(
                label=_("Handling organisation"), required=required,
                queryset=Organisation.objects.filter(street_id=self.issue.street_id).order_by("kind", "name"),
                help_text=_("Name an organisation, a person, or both."),
            )
        if name == "handler_user":
            return forms.CharField(label=_("Handling person (username)"), required=required, max_length=150,
                                   widget=forms.TextInput(attrs={"autocapitalize": "none", "list": "handler-users"}))
        if name == "due":
            c = self.issue.category
            return when_field(label=_("Due"), required=required, help_text=_(
                "Empty: %(n)s %(unit)s from now by the working-day calendar (the category's deadline)."
            ) % {"n": c.deadline, "unit": c.get_deadline_unit_display()})
        if name == "until":
            return when_field(label=_("Extend until"), required=required)
        if name == "channel":
            return forms.ChoiceField(label=_("How the resident was told"), required=required,
                                     choices=FEEDBACK_CHANNELS, widget=forms.RadioSelect)
        if name == "satisfaction":
            return forms.ChoiceField(label=_("Resident's satisfaction"), required=required, choices=SATISFACTION,
                                     widget=forms.RadioSelect)
        if name == "into":
            return forms.CharField(label=_("Duplicate of (ledger number)"), required=required, max_length=30,
                                   widget=forms.TextInput(attrs={"autocapitalize": "characters", "list": "merge-targets"}))
        if name == "approve":
            return forms.TypedChoiceField(label=_("Decision"), required=required, widget=forms.RadioSelect,
                                          choices=[("yes", _("Approve")), ("no", _("Refuse"))],
                                          coerce=lambda v: v == "yes")
        if name == "common":
            return forms.BooleanField(label=_("Common problem (共性)"), required=False)
        if name == "difficult":
            return forms.BooleanField(label=_("Difficult problem (疑难)"), required=False)
        raise KeyError(name)

    def _assign_defaults(self):
        """Propose the property company serving the place when the category goes to property companies."""
        if self.is_bound or self.issue.category.handler_kind != "property" or "handler_org" not in self.fields:
            return
        org = (Organisation.objects.filter(access.ancestors_q(self.issue.grid, "nodes"), street_id=self.issue.street_id,
                                           kind=OrgKind.PROPERTY)
               .order_by("-nodes__level").first())
        if org is not None:
            self.initial.setdefault("handler_org", org.pk)

    def clean(self):
        cleaned = super().clean()
        if not self.errors:  # the times are read once the form is whole, as the service reads them
            for name in ("due", "until"):
                if name in self.fields:
                    try:
                        cleaned[name] = services.parse_when(cleaned.get(name), name)
                    except ValidationError as e:
                        add_service_errors(self, e)
        return cleaned

    def clean_into(self):
        number = self.cleaned_data["into"].strip()
        target = visible_issues(self.user).filter(number__iexact=number).values_list("pk", flat=True).first()
        if target is None:
            raise ValidationError(_("No issue with that number in your grid."), code="unknown_issue")
        return target

    def service_data(self):
        """The cleaned fields as `issue_transition` takes them (an Organisation, a datetime, an issue id)."""
        return {name: value for name, value in self.cleaned_data.items() if name not in ("version", "photos")}


def handler_user_choices(issue):
    """Usernames for the handling-person field's suggestions: property staff of the street's companies."""
    return (
        RoleAssignment.objects.active()
        .filter(role=Role.PROPERTY_STAFF, organisation__street_id=issue.street_id, user__is_active=True)
        .select_related("user", "organisation")
        .order_by("organisation__name", "user__username")[:100]
    )
