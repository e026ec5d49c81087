"""The one adapter between services and Django forms (admin and mobile pages).

A service's ValidationError lands on the form's fields where the form has them, else on top, with
its codes; a PermissionDenied or a Conflict becomes a non-field error. `ServiceForm` makes a
ModelForm whose saving is the service's: a refused write shows the form again and writes nothing."""

from functools import partial

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError

from .errors import Conflict
from .ids import parse_id


def error_text(error):
    """The words of a PermissionDenied or Conflict (some carry none)."""
    return str(error) or str(getattr(error, "message", "")) or type(error).__name__


def add_service_errors(form, error, rename=None):
    """A service's ValidationError onto the form: by field where the form has it, else on top.
    `rename(key)` gives the form's field for a service's key when the form names it differently."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, ValidationError(error.error_list))
        return
    by_field = {}
    for key, errors in error.error_dict.items():
        name = rename(key) if rename is not None else key
        by_field.setdefault(name if name in form.fields else None, []).extend(errors)
    for name, errors in by_field.items():
        form.add_error(name, ValidationError(errors))


def run_service(form, call):
    """`call()` with its errors put on `form`; returns (result, ok)."""
    try:
        return call(), True
    except ValidationError as e:
        add_service_errors(form, e)
    except (PermissionDenied, Conflict) as e:
        form.add_error(None, error_text(e))
    return None, False


class ServiceErrorsMixin:
    """`form.add_service_errors(e)`: add_service_errors as a method of the form."""

    def add_service_errors(self, error):
        add_service_errors(self, error)


class IdsChoiceField(forms.ModelMultipleChoiceField):
    """Rows picked by their ids: a value that is no id (a word, 0, a number past the database's
    integers) is the field's own invalid-value error before any query is made of it."""

    def _check_values(self, value):
        for pk in value:
            if parse_id(pk) is None:
                raise forms.ValidationError(self.error_messages["invalid_pk_value"], code="invalid_pk_value",
                                            params={"pk": pk})
        return super()._check_values(value)


class ServiceForm(forms.ModelForm):
    """An add or change form whose writing is the service's: once the form's own checks pass,
    validation ends by calling the service (inside the admin's transaction). What the service
    refuses comes back as the form's errors, the form is shown again and nothing is written."""

    submit = None  # set per request by ServiceFormMixin.get_form: form → the saved object
    saved = None

    def is_valid(self):
        if not super().is_valid():
            return False
        if self.saved is None:
            self.saved, ok = run_service(self, lambda: self.submit(self))
            return ok
        return True


class ServiceFormMixin:
    """For a ModelAdmin whose form is a ServiceForm and which defines `submit(request, form)`: call
    the service with the form's data and return the saved object. The admin's own saving is skipped,
    since the service saved the object while the form was validated."""

    form = ServiceForm

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.submit = staticmethod(partial(self.submit, request))
        return form

    def save_form(self, request, form, change):
        return form.saved

    def save_model(self, request, obj, form, change):
        pass  # saved by the service during validation

    def save_related(self, request, form, formsets, change):
        pass  # likewise
