from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# The ledger's permissions for the admin groups of grid's roles (see common.registry.admin_groups).
# change_issue unlocks the action buttons; the workflow table then decides which actions a person has.
ADMIN_PERMISSIONS = {
    "street_staff": {
        "view_issue", "add_issue", "change_issue",
        "view_category", "add_category", "change_category", "delete_category",
        "view_calendaroverride", "add_calendaroverride", "change_calendaroverride", "delete_calendaroverride",
        "view_notification", "change_notification",
    },
    "secretary": {"view_issue", "add_issue", "change_issue", "view_category", "view_calendaroverride",
                  "view_notification"},
    "party_branch": {"view_issue", "add_issue", "change_issue", "view_category"},
}


class IssuesConfig(AppConfig):
    name = "issues"
    verbose_name = _("Problem ledger")

    def ready(self):
        from common.registry import admin_permissions_register, demo_step

        from .demo import build_demo_ledger

        for role, codenames in ADMIN_PERMISSIONS.items():
            admin_permissions_register(role, "issues", codenames)
        demo_step(build_demo_ledger)
