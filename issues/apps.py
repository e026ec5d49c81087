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
        from common import jobs
        from common.registry import admin_permissions_register, demo_step

        from . import notifications, services
        from .demo import build_demo_ledger

        for role, codenames in ADMIN_PERMISSIONS.items():
            admin_permissions_register(role, "issues", codenames)
        demo_step(build_demo_ledger)
        _register_mobile_links()
        jobs.register("issues.mark_overdue", _("Supervision cards for overdue issues"), services.issues_mark_overdue,
                      task="issues.tasks.mark_overdue")
        jobs.register("issues.flush_outbox", _("Outbox sweep"), notifications.flush_outbox,
                      task="issues.tasks.flush_outbox")


def _register_mobile_links():
    """The ledger's entries on the phone pages (common.registry), shown to those who can use them."""
    from common.registry import Link, home_tiles, microgrid_actions, mobile_menu
    from grid.access import has_scope, held_roles

    def has_queue(user):
        from .views import QUEUES

        return bool(held_roles(user) & {role for _title, roles, _sections in QUEUES.values() for role in roles})

    mobile_menu.add(Link("issues.queue", _("My queue"), "mobile_issues:index", 20, has_queue))
    mobile_menu.add(Link("issues.report", _("Report an issue"), "mobile_issues:report", 30, has_scope))
    home_tiles.add(Link("issues.report", _("Report an issue"), "mobile_issues:report", 10, has_scope))
    home_tiles.add(Link("issues.queue", _("My queue"), "mobile_issues:index", 20, has_queue))
    microgrid_actions.add(Link("issues.report", _("Report an issue here"), "mobile_issues:report", 10, has_scope))
