from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

_RECORDS = {"view_patrolplan", "view_patrol", "view_worklog", "view_monthlyreport", "view_meeting",
            "add_meeting", "view_scenario", "view_checklisttemplate", "view_jobrun"}
# The patrols' permissions for the admin groups of grid's roles (see common.registry.admin_groups).
ADMIN_PERMISSIONS = {
    "street_staff": _RECORDS | {
        "add_scenario", "change_scenario", "delete_scenario",
        "add_checklisttemplate", "change_checklisttemplate", "delete_checklisttemplate",
        "change_patrolplan", "run_jobs",
    },
    "secretary": _RECORDS,
    "party_branch": _RECORDS - {"add_meeting"},
}


class PatrolsConfig(AppConfig):
    name = "patrols"
    verbose_name = _("Joint patrols")

    def ready(self):
        from common.registry import admin_permissions_register, demo_step

        from .demo import build_demo_patrols

        for role, codenames in ADMIN_PERMISSIONS.items():
            admin_permissions_register(role, "patrols", codenames)
        demo_step(build_demo_patrols)
