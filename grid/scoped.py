"""Base classes that apply scope, so a new endpoint or page gets it by inheriting, not by remembering.

- `ScopedViewSet` (and `ScopedReadOnlyViewSet`): `get_queryset` is `visible(user)`, which every
  subclass must define (what this user may see); lookups are parsed once (`abc`, `0`, huge, NUL → 404).
- `scoped_object_or_404(queryset, **lookups)`: for the phone pages; ids parsed the same way.
The admin's base is `grid.admin.ScopedAdmin`."""

from django.http import Http404
from rest_framework import mixins, viewsets

from .access import parse_id

NUL = "\x00"


def clean_lookups(lookups):
    """Lookups from a URL or a query, made safe: `pk`/`id`/`*_id` values must be ids; text values must
    not hold a NUL byte (PostgreSQL refuses them). Raises Http404 for anything else."""
    clean = {}
    for key, value in lookups.items():
        if key in ("pk", "id") or key.endswith(("_id", "__pk", "__id")):
            value = parse_id(value)
            if value is None:
                raise Http404
        elif isinstance(value, str) and (NUL in value or len(value) > 200):
            raise Http404
        clean[key] = value
    return clean


def scoped_object_or_404(queryset, **lookups):
    """The one object of an already scoped queryset, or 404 (also for a malformed id or code)."""
    try:
        return queryset.get(**clean_lookups(lookups))
    except (queryset.model.DoesNotExist, queryset.model.MultipleObjectsReturned):
        raise Http404 from None


class ScopedMixin:
    """`visible(user)` is the only way a scoped endpoint reads; the lookup value is parsed first."""

    lookup_value_regex = "[0-9]+"

    def visible(self, user):
        raise NotImplementedError(f"{type(self).__name__} must say what a user may see: define visible(user).")

    def get_queryset(self):
        return self.visible(self.request.user)

    def get_object(self):
        lookup = self.lookup_url_kwarg or self.lookup_field
        self.kwargs[lookup] = clean_lookups({"pk": self.kwargs.get(lookup)})["pk"]
        return super().get_object()


class ScopedReadOnlyViewSet(ScopedMixin, viewsets.ReadOnlyModelViewSet):
    pass


class ScopedViewSet(ScopedMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """List, retrieve and create (through a service, in `create`); actions as explicit POSTs."""
