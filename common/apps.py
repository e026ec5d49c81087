from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommonConfig(AppConfig):
    """The house's framework, below every domain app (see DESIGN.md)."""

    name = "common"
    verbose_name = _("System")
