"""The street office's admin: every register scoped to the user, every write through the services."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, pgettext_lazy
from mptt.admin import MPTTModelAdmin

from common.admin import BaseAdmin, CleanQueryMixin, NotFoundMixin, ReadOnlyMixin  # ReadOnlyMixin: also for append-only logs and views
from common.excel import xlsx_response

from . import access, excel, selectors, services
from .models import (
    APostRoster,
    CareTag,
    ChangeLog,
    GridNode,
    Household,
    Level,
    Organisation,
    Role,
    RoleAssignment,
    User,
    VacantMicrogrid,
    mask_phone,
)
from .uploads import check_image

admin.site.site_header = _("Micro-grid governance")
admin.site.site_title = _("Micro-grid governance")
admin.site.index_title = _("Street office administration")


class SubtreeFilter(admin.SimpleListFilter):
    """Filter any register by the subtree of a street or community the user can see."""

    title = _("subtree")
    parameter_name = "ancestor"
    via = None

    def lookups(self, request, model_admin):
        nodes = selectors.visible_nodes(request.user).filter(level__lte=Level.COMMUNITY).order_by(*access.tree_order())
        return [(n.pk, ("— " if n.level == Level.COMMUNITY else "") + n.name) for n in nodes]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        node = access.visible_node(request.user, self.value())
        if node is None:
            return queryset.none()
        return queryset.filter(access.subtree_q(node, self.via, queryset.model))


class HouseholdSubtreeFilter(SubtreeFilter):
    via = "grid"


class RoleSubtreeFilter(SubtreeFilter):
    via = "node"


class VacancyFilter(admin.SimpleListFilter):
    title = _("A-post leader")
    parameter_name = "vacant"

    def lookups(self, request, model_admin):
        return [("1", _("vacant micro-grids")), ("0", _("micro-grids with an A-post leader"))]

    def queryset(self, request, queryset):
        if self.value() not in ("0", "1"):
            return queryset
        micro = selectors.annotate_vacancy(queryset.filter(level=Level.MICROGRID))
        return micro.filter(has_leader=self.value() == "0")


class ActiveRoleFilter(admin.SimpleListFilter):
    title = _("active")
    parameter_name = "active"

    def lookups(self, request, model_admin):
        return [("1", _("active")), ("0", _("ended or not yet started"))]

    def queryset(self, request, queryset):
        if self.value() == "1":
            return queryset.active()
        if self.value() == "0":
            return queryset.exclude(pk__in=queryset.active().values("pk"))
        return queryset


class ScopedAdmin(BaseAdmin):
    """Changelists, change pages and choice lists restricted by the scope helper."""

    scope_via = None

    def get_queryset(self, request):
        return access.restrict(super().get_queryset(request), request.user, via=self.scope_via)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is GridNode:
            kwargs["queryset"] = selectors.visible_nodes(request.user)
        elif db_field.related_model is Organisation:
            kwargs["queryset"] = selectors.visible_organisations(request.user)
        elif db_field.related_model is User:
            kwargs["queryset"] = selectors.visible_users(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.related_model is GridNode:
            kwargs["queryset"] = selectors.visible_nodes(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ExcelMixin:
    """Import and export buttons for a register, on top of its changelist."""

    register = None
    change_list_template = "admin/grid/change_list_excel.html"

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        return [
            path("export/", self.admin_site.admin_view(self.export_view), name="%s_%s_export" % info),
            path("import/", self.admin_site.admin_view(self.import_view), name="%s_%s_import" % info),
        ] + super().get_urls()

    def export_args(self, request):
        node = access.visible_node(request.user, request.GET.get("ancestor"))
        return {"root": node} if node else {}

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        export, _import = excel.REGISTERS[self.register]
        return xlsx_response(export(request.user, **self.export_args(request)), self.register)

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        errors, form = [], ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            _export, do_import = excel.REGISTERS[self.register]
            try:
                count = do_import(form.cleaned_data["file"], actor=request.user)
            except excel.ImportFailed as e:
                errors = e.errors
            else:
                message = ngettext("Imported %d row.", "Imported %d rows.", count) % count
                self.message_user(request, message, messages.SUCCESS)
                return HttpResponseRedirect(reverse(f"admin:grid_{self.model._meta.model_name}_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "errors": errors,
            "title": _("Import %s from Excel") % self.model._meta.verbose_name_plural,
        }
        return TemplateResponse(request, "admin/grid/import.html", context)


class ImportForm(forms.Form):
    file = forms.FileField(label=_("Excel file (.xlsx)"))

    def clean_file(self):
        f = self.cleaned_data["file"]
        if not f.name.lower().endswith(".xlsx"):
            raise ValidationError(_("Upload an .xlsx file."), code="type")
        if f.size > 20 * 1024 * 1024:
            raise ValidationError(_("The file is larger than 20 MB."), code="size")
        return f


class NodeForm(forms.ModelForm):
    class Meta:
        model = GridNode
        fields = ["name", "code", "level", "kind", "parent", "floor_plan", "boundary"]

    def clean_floor_plan(self):
        image = self.cleaned_data.get("floor_plan")
        if image and hasattr(image, "content_type"):
            check_image(image)
        return image

    may_create_streets = False  # set per request by GridNodeAdmin.get_form

    def clean(self):
        data = super().clean()
        if not self.instance.pk and data.get("level") == Level.STREET and not self.may_create_streets:
            self.add_error("level", _("Only an administrator may create a street."))
        if self.instance.pk and "level" in self.changed_data:
            self.add_error("level", _("The level of an existing node cannot change; create a new node."))
        if {"level", "parent"} <= data.keys():
            try:
                services.check_placement(level=data["level"], kind=data.get("kind", ""), parent=data["parent"])
            except ValidationError as e:
                for fieldname, errs in e.message_dict.items():
                    self.add_error(fieldname if fieldname in self.fields else None, errs)
        return data


@admin.register(GridNode)
class GridNodeAdmin(ExcelMixin, ScopedAdmin, MPTTModelAdmin):
    register = "tree"
    change_list_template = "admin/grid/gridnode_change_list.html"
    form = NodeForm
    mptt_level_indent = 18
    list_display = ["name", "code", "level", "kind", "microgrids", "households", "leaders", "vacancies"]
    list_filter = ["level", "kind", SubtreeFilter, VacancyFilter]
    search_fields = ["name", "code"]
    list_per_page = 100

    def get_changelist(self, request, **kwargs):
        base = super().get_changelist(request, **kwargs)

        class CountingChangeList(base):
            # Subtree counts for the whole page in two queries, not four per row.
            def get_results(self, request):
                super().get_results(request)
                counts = selectors.subtree_counts(self.result_list)
                for node in self.result_list:
                    node.subtree = counts.get(node.pk, {})

        return CountingChangeList

    @admin.display(description=_("micro-grids"))
    def microgrids(self, node):
        return node.subtree.get("microgrids")

    @admin.display(description=_("households"))
    def households(self, node):
        return node.subtree.get("households")

    @admin.display(description=_("leaders"))
    def leaders(self, node):
        return node.subtree.get("leaders")

    @admin.display(description=_("vacancies"))
    def vacancies(self, node):
        return node.subtree.get("vacancies")

    def get_search_results(self, request, queryset, search_term):
        qs, dup = super().get_search_results(request, queryset, search_term)
        # The household form's autocomplete offers micro-grids only.
        if request.GET.get("model_name") == "household" and request.GET.get("field_name") == "grid":
            qs = qs.filter(level=Level.MICROGRID)
        return qs, dup

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.may_create_streets = request.user.is_superuser
        return form

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in form.changed_data if f in form.cleaned_data}
        if data.get("floor_plan") is False:  # the "clear" box of the file input
            data["floor_plan"] = ""
        if not change:
            saved = services.node_create(actor=request.user, **{f: form.cleaned_data.get(f) for f in (
                "name", "code", "level", "kind", "parent", "boundary", "floor_plan")})
        else:
            parent = data.pop("parent", None)
            saved = services.node_update(actor=request.user, node=obj, **data)
            if "parent" in form.changed_data:
                saved = services.node_move(actor=request.user, node=saved, parent=parent)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        services.node_delete(actor=request.user, node=obj)


class PhoneMaskingMixin:
    """Users without the phone right see the model's `phone_fields` masked and read-only on the change
    form (filtering, searching and sorting on them is refused by common.admin.CleanQueryMixin)."""

    @property
    def phone_fields(self):
        return self.model.phone_fields

    def get_readonly_fields(self, request, obj=None):
        ro = list(super().get_readonly_fields(request, obj))
        if not selectors.can_see_phones(request.user):
            ro += [f"masked_{f}" for f in self.phone_fields]
        return ro

    def get_exclude(self, request, obj=None):
        ex = list(super().get_exclude(request, obj) or [])
        if not selectors.can_see_phones(request.user):
            ex += list(self.phone_fields)
        return ex


class HouseholdForm(forms.ModelForm):
    class Meta:
        model = Household
        fields = "__all__"

    def clean_grid(self):
        # The service's placement rule, run here so a wrong node is a field error and not a 500.
        grid = self.cleaned_data.get("grid")
        if grid is not None:
            try:
                services.check_household_grid(grid)
            except ValidationError as e:
                raise ValidationError(e.message_dict.get("grid", e.messages)) from None
        return grid


@admin.register(Household)
class HouseholdAdmin(ExcelMixin, PhoneMaskingMixin, ScopedAdmin):
    register = "households"
    form = HouseholdForm
    scope_via = "grid"
    list_display = ["head", "address", "grid", "phone", "members", "tag_list"]
    list_filter = [HouseholdSubtreeFilter, "tags"]
    search_fields = ["head", "room", "grid__code", "grid__name"]
    autocomplete_fields = ["grid"]
    list_select_related = ["grid"]
    filter_horizontal = ["tags"]
    list_per_page = 100

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("tags")

    def get_list_display(self, request):
        if selectors.can_see_phones(request.user):
            return self.list_display
        return [("masked_phone" if f == "phone" else f) for f in self.list_display]

    @admin.display(description=_("phone"))
    def masked_phone(self, h):
        return mask_phone(h.phone)

    @admin.display(description=_("care tags"))
    def tag_list(self, h):
        return "、".join(t.name for t in h.tags.all())

    def save_model(self, request, obj, form, change):
        # Tags are saved with the household by the service; save_related must not redo them.
        data = {f: form.cleaned_data[f] for f in form.changed_data if f != "tags"}
        tags = list(form.cleaned_data.get("tags", []))
        if change:
            saved = services.household_update(actor=request.user, household=obj, tags=tags, **data)
        else:
            fields = {f: form.cleaned_data.get(f) for f in services.HOUSEHOLD_FIELDS if f in form.cleaned_data}
            saved = services.household_create(actor=request.user, tags=tags, **fields)
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        form.save_m2m = lambda: None
        super().save_related(request, form, formsets, change)

    def delete_model(self, request, obj):
        services.household_delete(actor=request.user, household=obj)


class OrganisationForm(forms.ModelForm):
    class Meta:
        model = Organisation
        fields = ["name", "kind", "phone", "street", "nodes"]

    def clean(self):
        data = super().clean()
        street, nodes = data.get("street"), data.get("nodes") or []
        foreign = services.foreign_nodes(street, nodes) if street is not None else []
        if foreign:
            self.add_error("nodes", _("These nodes are in another street: %s") % ", ".join(foreign))
        return data


@admin.register(Organisation)
class OrganisationAdmin(ExcelMixin, ScopedAdmin):
    register = "organisations"
    form = OrganisationForm
    list_display = ["name", "kind", "phone", "street"]
    list_filter = ["kind"]
    search_fields = ["name"]
    autocomplete_fields = ["nodes"]

    def get_queryset(self, request):
        return selectors.visible_organisations(request.user).select_related("street")

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in ("name", "kind", "phone", "street")}
        saved = services.organisation_save(
            actor=request.user, organisation=obj if change else None, nodes=list(form.cleaned_data["nodes"]), **data
        )
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        form.save_m2m = lambda: None
        super().save_related(request, form, formsets, change)

    def delete_model(self, request, obj):
        services.organisation_delete(actor=request.user, organisation=obj)


class RosterForm(forms.ModelForm):
    class Meta:
        model = RoleAssignment
        fields = ["user", "node", "role", "post", "organisation", "public_phone", "start", "end"]

    def clean(self):
        data = super().clean()
        # The role rules live in the service; run them here so the form shows them by field.
        if not self.errors:
            probe = RoleAssignment(pk=self.instance.pk, **{f: data.get(f) for f in self.Meta.fields})
            probe.post = probe.post or ""
            try:
                services.check_role(probe)
            except ValidationError as e:
                for fieldname, errs in e.message_dict.items():
                    self.add_error(fieldname if fieldname in self.fields else None, errs)
        return data


@admin.register(RoleAssignment)
class RoleAssignmentAdmin(ExcelMixin, ScopedAdmin):
    register = "roster"
    scope_via = "node"
    form = RosterForm
    list_display = ["user_name", "user", "node", "role", "post", "public_phone", "start", "end", "active"]
    list_filter = ["role", "post", ActiveRoleFilter, RoleSubtreeFilter]
    search_fields = ["user__username", "user__name", "node__name", "node__code"]
    autocomplete_fields = ["user", "node"]
    list_select_related = ["user", "node"]
    list_per_page = 100

    def get_urls(self):
        return [
            path("export-a-posts/", self.admin_site.admin_view(self.export_a_posts_view),
                 name="grid_roleassignment_export_a_posts"),
        ] + super().get_urls()

    def export_a_posts_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return xlsx_response(excel.export_roster(request.user, a_posts_only=True, **self.export_args(request)), "a-posts")

    @admin.display(description=pgettext_lazy("person", "name"), ordering="user__name")
    def user_name(self, ra):
        return ra.user.name

    @admin.display(description=_("active"), boolean=True)
    def active(self, ra):
        return ra.is_active()

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data.get(f) for f in RosterForm.Meta.fields}
        data["post"] = data["post"] or ""
        if change:
            saved = services.role_update(actor=request.user, assignment=obj, **data)
        else:
            saved = services.role_assign(actor=request.user, **data)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        services.role_delete(actor=request.user, assignment=obj)


@admin.register(CareTag)
class CareTagAdmin(BaseAdmin):
    """One list for every street: only administrators change it."""

    list_display = ["code", "name"]

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(ChangeLog)
class ChangeLogAdmin(ReadOnlyMixin, BaseAdmin):
    """Read-only: the log is append-only."""

    list_display = ["time", "actor", "model", "object_id", "action", "changes"]
    list_filter = ["model", "action"]
    search_fields = ["object_id", "actor__username"]
    list_select_related = ["actor"]

    def has_view_permission(self, request, obj=None):
        # The log spans a whole street: only street-level staff and administrators read it.
        roots = access.scope_roots(request.user)
        street_level = roots is None or any(r.level == Level.STREET for r in roots)
        return street_level and super().has_view_permission(request, obj)

    def get_queryset(self, request):
        return selectors.visible_changelog(request.user).select_related("actor")


@admin.register(User)
class UserAdmin(CleanQueryMixin, NotFoundMixin, PhoneMaskingMixin, BaseUserAdmin):
    list_display = ["username", "name", "is_staff", "is_active", "last_login"]
    search_fields = ["username", "name"]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Person"), {"fields": ("name", "phone", "email")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("username", "name", "password1", "password2")}),)

    # Who may grant powers: administrators only. Street staff manage their people's logins.
    POWER_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions", "last_login", "date_joined")

    def get_queryset(self, request):
        # A user just added stays visible (no roster line yet), so the roster form can find them.
        return selectors.visible_users(request.user)

    def get_readonly_fields(self, request, obj=None):
        ro = list(super().get_readonly_fields(request, obj))
        return ro if request.user.is_superuser else ro + [f for f in self.POWER_FIELDS if f not in ro]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or selectors.can_see_phones(request.user):
            return fieldsets
        return tuple(
            (title, {**opts, "fields": tuple("masked_phone" if f == "phone" else f for f in opts["fields"])})
            for title, opts in fieldsets
        )

    @admin.display(description=_("private phone"))
    def masked_phone(self, user):
        return mask_phone(user.phone)


class ReadOnlyViewAdmin(ReadOnlyMixin, BaseAdmin):
    """A register that is a view of others: listed and exported here, edited where it lives."""

    def get_changelist(self, request, **kwargs):
        base = super().get_changelist(request, **kwargs)
        via = self.path_via

        class PathChangeList(base):
            # The community and compound of every row on the page in one query.
            def get_results(self, request):
                super().get_results(request)
                nodes = [getattr(obj, via) if via else obj for obj in self.result_list]
                paths = selectors.node_paths(nodes)
                for obj, node in zip(self.result_list, nodes):
                    obj.path = paths.get(node.pk, [])

        return PathChangeList

    @admin.display(description=_("community"))
    def community(self, obj):
        return next((a.name for a in obj.path if a.level == Level.COMMUNITY), "")

    @admin.display(description=_("compound"))
    def compound(self, obj):
        return next((a.name for a in obj.path if a.level == Level.COMPOUND), "")


@admin.register(APostRoster)
class APostRosterAdmin(ReadOnlyViewAdmin):
    path_via = "node"
    list_display = ["user_name", "user", "node", "community", "compound", "public_phone", "start"]
    list_filter = [RoleSubtreeFilter]
    search_fields = ["user__username", "user__name", "node__name", "node__code"]
    list_select_related = ["user", "node"]
    list_per_page = 100
    change_list_template = "admin/grid/apostroster_change_list.html"

    def get_queryset(self, request):
        qs = selectors.visible_roles(request.user).filter(role=Role.LEADER, post="A").active()
        return APostRoster.objects.filter(pk__in=qs.values("pk")).order_by(*access.tree_order("node"))

    @admin.display(description=pgettext_lazy("person", "name"), ordering="user__name")
    def user_name(self, ra):
        return ra.user.name


@admin.register(VacantMicrogrid)
class VacantMicrogridAdmin(ReadOnlyViewAdmin):
    path_via = None
    list_display = ["name", "code", "kind", "community", "compound"]
    list_filter = ["kind", SubtreeFilter]
    search_fields = ["name", "code"]
    list_per_page = 100

    def get_queryset(self, request):
        vacant = selectors.vacant_microgrids(request.user)
        return VacantMicrogrid.objects.filter(pk__in=vacant.values("pk")).order_by(*access.tree_order())
