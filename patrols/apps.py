from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

_RECORDS = {"view_patrolplan", "view_patrol", "view_worklog", "view_monthlyreport", "view_meeting",
            "add_meeting", "view_scenario", "view_checklisttemplate"}
# The patrols' permissions for the admin groups of grid's roles (see common.registry.admin_groups).
ADMIN_PERMISSIONS = {
    "street_staff": _RECORDS | {
        "add_scenario", "change_scenario", "delete_scenario",
        "add_checklisttemplate", "change_checklisttemplate", "delete_checklisttemplate",
        "change_patrolplan",
    },
    "secretary": _RECORDS,
    "party_branch": _RECORDS - {"add_meeting"},
}
class PatrolsConfig(AppConfig):
    name = "patrols"
    verbose_name = _("Joint patrols")

    def ready(self):
        from common.registry import admin_permissions_register, demo_step

        from . import services
        from .demo import build_demo_patrols

        for role, codenames in ADMIN_PERMISSIONS.items():
            admin_permissions_register(role, "patrols", codenames)
        services.jobs_register()
        demo_step(build_demo_patrols)
        _register_mobile_links()


def _register_mobile_links():
    """The patrols' entries on the phone pages (common.registry): for those with a place to patrol."""
    from common.registry import Link, home_tiles, mobile_menu
    from grid.access import has_scope

    mobile_menu.add(Link("patrols.index", _("Patrols"), "mobile_patrols:index", 40, has_scope))
    home_tiles.add(Link("patrols.index", _("Patrols"), "mobile_patrols:index", 30, has_scope))
    home_tiles.add(Link("patrols.log", _("Log work"), "mobile_patrols:log", 40, has_scope))
