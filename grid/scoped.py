"""Base classes that apply scope, so a new endpoint or page gets it by inheriting, not by remembering.

- `ScopedViewSet` (and `ScopedReadOnlyViewSet`): `get_queryset` is `visible(user)`, which every
  subclass must define (what this user may see); lookups are parsed once (`abc`, `0`, huge, NUL → 404).
- `scoped_object_or_404(queryset, **lookups)`: for the phone pages; ids parsed the same way;
  `query_text(params, name)` for their text filters (no NUL byte reaches the database).
- A query parameter of a scoped viewset holding a NUL byte answers 400 on that parameter.
The admin's base is `grid.admin.ScopedAdmin`."""

from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import mixins, viewsets
from rest_framework.exceptions import ErrorDetail, ValidationError

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


def query_text(params, name, max_length=100):
    """A text filter from a page's query: stripped, NUL bytes dropped, at most `max_length` long."""
    return params.get(name, "").replace(NUL, "").strip()[:max_length]


def scoped_object_or_404(queryset, **lookups):
    """The one object of an already scoped queryset, or 404 (also for a malformed id or code)."""
    try:
        return queryset.get(**clean_lookups(lookups))
    except (queryset.model.DoesNotExist, queryset.model.MultipleObjectsReturned):
        raise Http404 from None


def nul_params(params):
    """The names of the query parameters whose name or value holds a NUL byte (PostgreSQL refuses
    them in any text comparison, so a search or filter would fail deep in the database)."""
    return sorted({key for key, values in params.lists() if NUL in key or any(NUL in v for v in values)})


class ScopedMixin:
    """`visible(user)` is the only way a scoped endpoint reads; the lookup value is parsed first, and
    a query parameter holding a NUL byte is a 400 on that parameter."""

    lookup_value_regex = "[0-9]+"

    def visible(self, user):
        raise NotImplementedError(f"{type(self).__name__} must say what a user may see: define visible(user).")

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        bad = nul_params(request.query_params)
        if bad:
            raise ValidationError(
                {key.replace(NUL, "") or "query": [ErrorDetail(_("A NUL character is not allowed."), code="null_character")]
                 for key in bad}
            )

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
