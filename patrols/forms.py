"""Forms of the mobile patrol pages: the patrol checklist with its participants and findings, the
quick work-log entry, and the period of a leader's profile.

The forms check the shape of the input (choices, lengths, image type); the business rules (every item
answered, a problem described, the place inside the patrolled area, who is on the roster) stay in
`patrols.services`, whose dotted field errors (`items.0.note`, `findings.1.grid`, …) the patrol form
leads back to its own fields before `common.forms` puts them there.
"""

from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from common.forms import add_service_errors
from common.periods import month_label, parse_month, parse_period
from grid import access
from grid import selectors as grid_selectors
from grid.models import Level, RoleAssignment
from issues.forms import MAX_PLACE_CHOICES, PhotosField, place_label, text_area
from issues.models import Category

from .models import Result, WorkKind

OUTSIDER_ROWS = 3
# What happens to a problem: the ledger's two first steps, or only the checklist's note.
FINDING_CHOICES = [
    ("record", _("Record it in the ledger for handling")),
    ("on_spot", _("Solved on the spot (put in the ledger as resolved)")),
    ("none", _("Only note it on the checklist")),
]
# Suggestions for the capacity of someone from outside the rosters.
CAPACITIES = [_("property company"), _("owners' representative"), _("owners' committee"),
              _("residents' representative"), _("police station"), _("utility company")]


def _date_input():
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


# --- the patrol ---------------------------------------------------------------------------------


def roster_lines(plan, actor):
    """The active roster lines a plan's participants are picked from: everyone at or under the
    patrolled place, and the role holders of the community above it (the convener's service station).
    The recorder takes part anyway and is not offered."""
    node = plan.node
    inside = access.subtree_q(node, "node")
    above = access.ancestors_q(node, "node", strict=True) & Q(node__level__gte=Level.COMMUNITY)
    return (RoleAssignment.objects.active().filter(inside | above, user__is_active=True)
            .exclude(user=actor).select_related("user", "node", "organisation")
            .order_by("node__level", *access.tree_order("node"), "role", "user__username"))


class PatrolForm(forms.Form):
    """One patrol record: the date, who went, every checklist item (result, note, photos) and, for each
    problem, how it enters the ledger. Item fields are named `i<item id>_<field>`, outsiders `o<row>_<field>`."""

    date = forms.DateField(label=_("Date of the patrol"), widget=_date_input())
    roster = forms.MultipleChoiceField(label=_("From the rosters"), required=False,
                                       widget=forms.CheckboxSelectMultiple)
    note = forms.CharField(label=_("Note on the patrol"), required=False, max_length=2000, widget=text_area())

    def __init__(self, *args, plan, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.plan, self.user = plan, user
        self.items = list(plan.scenario.template.items.all())
        self.lines = {str(ra.pk): ra for ra in roster_lines(plan, user)}
        self.fields["roster"].choices = [
            (pk, f"{ra.user.name or ra.user.username} · {ra.get_role_display()}"
                 f"{' · ' + ra.organisation.name if ra.organisation_id else ''} · {ra.node.name}")
            for pk, ra in self.lines.items()
        ]
        today = timezone.localdate()
        self.initial.setdefault("date", min(max(today, plan.period_start), plan.period_end))
        for j in range(OUTSIDER_ROWS):
            self.fields[f"o{j}_name"] = forms.CharField(label=_("Name"), required=False, max_length=50)
            self.fields[f"o{j}_role"] = forms.CharField(
                label=_("Capacity"), required=False, max_length=50,
                widget=forms.TextInput(attrs={"list": "capacities", "placeholder": _("e.g. property company")}))
        # Read once for all the items' selects. A scenario without categories takes any of the ledger's.
        categories = list(plan.scenario.categories.filter(active=True).order_by("group", "code"))
        if not categories:
            categories = list(Category.objects.filter(active=True).order_by("group", "code"))
        self.categories = categories
        category_choices = [("", "---------")] + [(c.pk, c.name) for c in categories]
        node = plan.node
        grids = list(grid_selectors.visible_nodes(user).filter(access.subtree_q(node), level=Level.MICROGRID)
                     .order_by(*access.tree_order())[:MAX_PLACE_CHOICES])
        self.grids = grids
        paths = grid_selectors.node_paths(grids) if len(grids) > 1 else {g.pk: [g] for g in grids}
        grid_choices = [(g.pk, place_label(g, paths[g.pk])) for g in grids]
        own = {g.pk for g in grid_selectors.my_microgrids(user)} & {g.pk for g in grids}
        default_grid = grids[0].pk if len(grids) == 1 else (own.pop() if len(own) == 1 else None)
        for item in self.items:
            p = f"i{item.pk}_"
            self.fields[p + "result"] = forms.ChoiceField(
                label=item.text, choices=Result.choices, widget=forms.RadioSelect,
                error_messages={"required": _("Choose fine, problem or not applicable.")})
            self.fields[p + "note"] = forms.CharField(label=_("Note"), required=False, max_length=500)
            self.fields[p + "photos"] = PhotosField(label=_("Photos of the problem"))
            self.fields[p + "finding"] = forms.ChoiceField(
                label=_("In the ledger"), choices=FINDING_CHOICES, required=False, widget=forms.RadioSelect,
                initial="record")
            self.fields[p + "category"] = forms.TypedChoiceField(
                label=_("Category"), choices=category_choices, coerce=int, required=False)
            self.fields[p + "grid"] = forms.TypedChoiceField(
                label=_("Micro-grid"), choices=[("", "---------")] + grid_choices, coerce=int, required=False,
                initial=default_grid)
            self.fields[p + "title"] = forms.CharField(
                label=_("Title"), required=False, max_length=100,
                widget=forms.TextInput(attrs={"placeholder": _("Empty: the item and its note")}))
            self.fields[p + "description"] = forms.CharField(
                label=_("Description"), required=False, max_length=2000,
                widget=forms.Textarea(attrs={"rows": 2, "placeholder": _("Empty: the note above")}))
            self.fields[p + "how"] = forms.CharField(
                label=_("How it was solved"), required=False, max_length=2000, widget=text_area(2))

    # --- the page's layout ----------------------------------------------------------------------

    def item_rows(self):
        """[{item, number, result, note, photos, finding, category, grid, title, description, how}] in
        checklist order, with `group` set on the first item of each group."""
        rows, group = [], None
        for n, item in enumerate(self.items, start=1):
            p = f"i{item.pk}_"
            row = {"item": item, "number": n, "group": item.group if item.group != group else None}
            group = item.group
            for name in ("result", "note", "photos", "finding", "category", "grid", "title", "description", "how"):
                row[name] = self[p + name]
            rows.append(row)
        return rows

    def outsider_rows(self):
        return [(self[f"o{j}_name"], self[f"o{j}_role"]) for j in range(OUTSIDER_ROWS)]

    # --- to the service and back ----------------------------------------------------------------

    def service_data(self):
        """The keyword arguments of `services.patrol_record` (without actor and plan), and the maps that
        lead the service's list indexes back to this form's fields."""
        d = self.cleaned_data
        participants, self._participant_fields = [], []
        for pk in d["roster"]:
            ra = self.lines[pk]
            participants.append({"username": ra.user.username, "role": ra.role})
            self._participant_fields.append({"": "roster", "username": "roster", "role": "roster"})
        for j in range(OUTSIDER_ROWS):
            name, role = d.get(f"o{j}_name", "").strip(), d.get(f"o{j}_role", "").strip()
            if name or role:
                participants.append({"name": name, "role": role})
                self._participant_fields.append({"": f"o{j}_name", "name": f"o{j}_name", "username": f"o{j}_name",
                                                 "role": f"o{j}_role"})
        items, findings, photos = [], [], {}
        self._item_ids, self._finding_ids = [], []
        for item in self.items:
            p = f"i{item.pk}_"
            result, note = d.get(p + "result", ""), d.get(p + "note", "").strip()
            items.append({"item": item.pk, "result": result, "note": note})
            self._item_ids.append(item.pk)
            files = d.get(p + "photos") or []
            if result != Result.PROBLEM:
                continue  # photos and findings belong to problems; a changed mind leaves them out
            if files:
                photos[item.pk] = files
            way = d.get(p + "finding") or "record"
            if way == "none":
                continue
            category, grid = d.get(p + "category"), d.get(p + "grid")
            title = d.get(p + "title", "").strip() or (f"{item.text}：{note}" if note else item.text)[:100]
            findings.append({
                "item": item.pk, "title": title, "description": d.get(p + "description", "").strip() or note,
                "category": category, "grid": grid,
                "on_spot": way == "on_spot", "note": d.get(p + "how", "").strip() if way == "on_spot" else "",
                "photos": files,
            })
            self._finding_ids.append(item.pk)
        return {"date": d["date"], "note": d.get("note", ""), "participants": participants, "items": items,
                "findings": findings, "photos": photos}

    def field_for(self, key):
        """The form field a service error key such as `findings.1.grid` belongs to (None: the form's top)."""
        parts = key.split(".")
        name = None
        try:
            if parts[0] in ("date", "note") and len(parts) == 1:
                name = parts[0]
            elif parts[0] == "items" and len(parts) > 1:
                pk = self._item_ids[int(parts[1])]
                name = f"i{pk}_note" if parts[2:] == ["note"] else f"i{pk}_result"
            elif parts[0] == "photos" and len(parts) == 2:
                name = f"i{int(parts[1])}_photos"
            elif parts[0] == "findings" and len(parts) > 1:
                pk = self._finding_ids[int(parts[1])]
                sub = parts[2] if len(parts) > 2 else ""
                sub = {"note": "how", "item": "finding", "": "finding"}.get(sub, sub)
                name = f"i{pk}_{sub}"
            elif parts[0] == "participants" and len(parts) > 1:
                fields = self._participant_fields[int(parts[1])]
                name = fields.get(parts[2] if len(parts) > 2 else "", fields[""])
        except (IndexError, ValueError, AttributeError):
            name = None
        return name if name in self.fields else None

    def add_service_errors(self, error):
        """The service's errors on the fields their keys lead to (the form's top for the rest)."""
        add_service_errors(self, error, rename=self.field_for)


# --- work logs ----------------------------------------------------------------------------------


class WorkLogForm(forms.Form):
    """A piece of field work: the kind comes from the button pressed, the rest is preset or optional."""

    kind = forms.ChoiceField(label=_("Kind of work"), choices=WorkKind.choices,
                             error_messages={"required": _("Choose a kind of work.")})
    grid = forms.TypedChoiceField(label=_("Micro-grid"), coerce=int, choices=())
    household = forms.TypedChoiceField(label=_("Household"), coerce=int, required=False, choices=(),
                                       empty_value=None)
    note = forms.CharField(label=_("Note"), required=False, max_length=500, widget=text_area(2))
    date = forms.DateField(label=_("Date"), widget=_date_input())

    def __init__(self, *args, user, grid_id=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.initial.setdefault("date", timezone.localdate())
        own = list(grid_selectors.my_microgrids(user))
        if own:
            grids = own
        else:
            grids = list(grid_selectors.visible_nodes(user).filter(level=Level.MICROGRID)
                         .order_by(*access.tree_order())[:MAX_PLACE_CHOICES + 1])
            if len(grids) > MAX_PLACE_CHOICES:
                grids = grids[:MAX_PLACE_CHOICES]
        self.grids = {g.pk: g for g in grids}
        paths = grid_selectors.node_paths(grids) if grids else {}
        self.fields["grid"].choices = [(g.pk, place_label(g, paths[g.pk])) for g in grids]
        if len(grids) != 1:
            self.fields["grid"].choices.insert(0, ("", "---------"))
        # The households offered are those of the chosen micro-grid (the leader's own one at first).
        wanted = self.data.get("grid") if self.is_bound else (grid_id or self.initial.get("grid"))
        chosen = self.grids.get(access.parse_id(wanted))
        if chosen is None and len(grids) == 1:
            chosen = grids[0]
        if chosen is not None:
            self.initial.setdefault("grid", chosen.pk)
        self.chosen = chosen
        households = (grid_selectors.visible_households(user).filter(grid=chosen)
                      .order_by("building", "unit", "room", "id") if chosen is not None else [])
        self.households = {h.pk: h for h in households}
        self.fields["household"].choices = [("", _("(none)"))] + [
            (h.pk, " ".join(x for x in (h.building, h.unit, h.room, h.head) if x)) for h in self.households.values()
        ]

    def clean_grid(self):
        return self.grids[self.cleaned_data["grid"]]

    def clean_household(self):
        pk = self.cleaned_data["household"]
        return self.households.get(pk) if pk is not None else None


# --- profile period -----------------------------------------------------------------------------


PRESETS = [("month", _("This month")), ("quarter", _("This quarter")), ("year", _("This year"))]


def preset_range(name, today=None):
    """(first, last day) of this month, quarter or year."""
    today = today or timezone.localdate()
    if name == "year":
        return parse_period(f"{today:%Y}")
    if name == "quarter":
        return parse_period(f"{today:%Y}-Q{(today.month - 1) // 3 + 1}")
    return parse_month(month_label(today))


class PeriodForm(forms.Form):
    period = forms.ChoiceField(choices=PRESETS, required=False)
    since = forms.DateField(label=_("From"), required=False, widget=_date_input())
    until = forms.DateField(label=_("Until"), required=False, widget=_date_input())

    def clean(self):
        d = super().clean()
        since, until = d.get("since"), d.get("until")
        if since and until and until < since:
            self.add_error("until", _("The end lies before the start."))
        return d

    def bounds(self):
        """(start, end, preset name or '') of the period asked for; this month when nothing valid is."""
        if not self.is_valid():
            return (*preset_range("month"), "month")
        d = self.cleaned_data
        if d.get("since") or d.get("until"):
            month_start, month_end = preset_range("month")
            start = d.get("since") or (d["until"].replace(day=1) if d.get("until") else month_start)
            end = d.get("until") or max(start, timezone.localdate())
            return start, end, ""
        name = d.get("period") or "month"
        return (*preset_range(name), name)
