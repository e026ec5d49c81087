"""The REST framework's shared pieces: pagination {count, next, previous, results}; the one mapping
of the services' errors to HTTP answers, with a stable `code` beside every translated message;
choice fields whose enums stay inline in the schema."""

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.fields import get_error_detail
from rest_framework.pagination import PageNumberPagination
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import Conflict as ServiceConflict


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = gettext_lazy("Someone else was quicker; reload and try again.")
    default_code = "conflict"


def as_api_error(exc):
    """A service's exception as the REST framework's, or None when it is not one of the services'."""
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(get_error_detail(exc))
    if isinstance(exc, ServiceConflict):
        return Conflict(str(exc) or None, code=exc.code)
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None, code=getattr(exc, "code", None))
    if isinstance(exc, (ObjectDoesNotExist, Http404)):
        return exceptions.NotFound()
    return None


def call_service(service, *, conflicts=(), **kwargs):
    """Run a service, turning its errors into the API's answers: ValidationError → 400 {field:
    [messages]}, PermissionDenied → 403, DoesNotExist (unknown, or outside the user's scope) → 404,
    a Conflict (and the app's other `conflicts`) → 409 {detail}."""
    try:
        return service(**kwargs)
    except conflicts as e:
        raise Conflict(str(e) or None, code=getattr(e, "code", None))
    except (DjangoValidationError, DjangoPermissionDenied, ObjectDoesNotExist, ServiceConflict) as e:
        raise as_api_error(e) from e


def exception_handler(exc, context):
    """Every error answer: 400 `{field: [message], "codes": {field: [code]}}`; 401, 403, 404, 405,
    409 and 429 `{"detail": message, "code": code}`. A service error that escaped a view is mapped
    here too, so no view can answer one of them with a 500."""
    exc = as_api_error(exc) or exc
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    codes = exc.get_codes()
    if isinstance(response.data, dict) and "detail" in response.data and isinstance(codes, str):
        response.data = {"detail": response.data["detail"], "code": codes}
    elif isinstance(response.data, dict):
        response.data = {**response.data, "codes": codes}
    else:  # a bare list of messages
        response.data = {"non_field_errors": response.data, "codes": {"non_field_errors": codes}}
    return response


def inline_choices(choices, help_text):
    """A choice field whose enum stays inline in the schema. drf-spectacular makes every enum a
    component named after its property; the apps' `state` and `kind` enums would collide and rename
    each other. Wrapped in `allOf` (with a description, or a lone allOf is unwrapped), it stays here."""
    schema = {"allOf": [{"type": "string", "enum": [value for value, _label in choices]}], "description": help_text}

    @extend_schema_field(schema)
    class Field(serializers.ChoiceField):
        pass

    return Field
