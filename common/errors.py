"""The errors services raise, with a stable machine-readable `code` beside the translated message.

- `django.core.exceptions.ValidationError` (field errors; build them with `invalid` or `Errors`) → 400
- `Denied` (a `PermissionDenied` with a code) → 403
- `Model.DoesNotExist` (unknown, or outside the actor's scope) → 404
- `Conflict` (someone else was quicker; stock, points or a fund ran out) → 409

`common.api.exception_handler` and `common.forms.add_service_errors` are the two adapters."""

from django.core.exceptions import PermissionDenied, ValidationError


class Conflict(Exception):
    """The write lost a race or a resource ran out: reload and try again (HTTP 409)."""

    default_code = "conflict"

    def __init__(self, message="", code=None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code

    def __str__(self):
        return str(self.message)


class Denied(PermissionDenied):
    """The actor's role does not allow this (HTTP 403)."""

    def __init__(self, message="", code="permission_denied"):
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self):
        return str(self.message)


def invalid(field, message, code):
    """One field error: `raise invalid("due", _("…"), "due_in_past")`."""
    return ValidationError({field: ValidationError(message, code=code)})


class Errors:
    """Field errors collected before raising them all at once, each with its code."""

    def __init__(self):
        self.by_field = {}

    def add(self, field, message, code):
        self.by_field.setdefault(field, []).append(ValidationError(message, code=code))

    def extend(self, error):
        """Another ValidationError's field errors (a non-field one goes under `__all__`)."""
        for key, errors in getattr(error, "error_dict", {"__all__": getattr(error, "error_list", [error])}).items():
            self.by_field.setdefault(key, []).extend(errors)

    def __contains__(self, field):
        return field in self.by_field

    def __bool__(self):
        return bool(self.by_field)

    def raise_if_any(self):
        if self.by_field:
            raise ValidationError(self.by_field)


def error_code(exc, default="invalid"):
    return getattr(exc, "code", None) or default
