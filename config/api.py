"""Shared REST pieces: pagination answering {count, next, previous, results}; the one mapping of the
services' errors to HTTP answers; choice fields whose enums stay inline in the schema."""

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.fields import get_error_detail
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = gettext_lazy("Someone else was quicker; reload and try again.")
    default_code = "conflict"


def call_service(service, *, conflicts=(), **kwargs):
    """Run a service, turning its errors into the API's answers: ValidationError → 400 {field:
    [messages]}, PermissionDenied → 403, DoesNotExist (unknown, or outside the user's scope) → 404,
    the app's `conflicts` (a stale version, stock or a fund run out) → 409 {detail}."""
    try:
        return service(**kwargs)
    except DjangoValidationError as e:
        raise exceptions.ValidationError(get_error_detail(e))
    except DjangoPermissionDenied as e:
        raise exceptions.PermissionDenied(str(e) or None)
    except ObjectDoesNotExist:
        raise exceptions.NotFound()
    except conflicts as e:
        raise Conflict(str(e) or None)


def inline_choices(choices, help_text):
    """A choice field whose enum stays inline in the schema. drf-spectacular makes every enum a
    component named after its property; the apps' `state` and `kind` enums would collide and rename
    each other. Wrapped in `allOf` (with a description, or a lone allOf is unwrapped), it stays here."""
    schema = {"allOf": [{"type": "string", "enum": [value for value, _label in choices]}], "description": help_text}

    @extend_schema_field(schema)
    class Field(serializers.ChoiceField):
        pass

    return Field
