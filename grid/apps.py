from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _sync_role_groups(**kwargs):
    # After every migrate, existing role groups gain the permissions of newly installed models.
    from .services import ADMIN_GROUPS, admin_group_sync

    for role in ADMIN_GROUPS:
        admin_group_sync(role, create=False)


class GridConfig(AppConfig):
    name = "grid"
    verbose_name = _("Grid")

    def ready(self):
        from django.db.models.signals import post_migrate

        from common import registry

        from .access import visible_node_ids
        from .selectors import can_see_phones

        post_migrate.connect(_sync_role_groups, dispatch_uid="grid.sync_role_groups")
        registry.scope["visible_node_ids"] = visible_node_ids
        registry.scope["can_see_phones"] = can_see_phones
        # The phone pages' menu starts with "My grid"; the apps above add their entries and tiles.
        registry.mobile_menu.add(registry.Link("grid.home", _("My grid"), "mobile:home", order=10))
