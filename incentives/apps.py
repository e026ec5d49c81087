from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

_READ = {"view_pointrule", "view_entry", "view_account", "view_reward", "view_redemption", "view_honour",
         "view_carevisit", "view_fund", "view_expenseclaim"}
# The incentives' permissions for the admin groups of grid's roles (see common.registry.admin_groups).
ADMIN_PERMISSIONS = {
    "street_staff": _READ | {
        "add_pointrule", "change_pointrule", "add_entry", "add_reward", "change_reward", "change_redemption",
        "add_honour", "add_carevisit", "add_fund", "change_fund", "change_expenseclaim",
    },
    "secretary": _READ | {"add_reward", "change_reward", "change_redemption", "add_honour", "add_carevisit",
                          "change_expenseclaim"},
    "party_branch": {"view_pointrule", "view_reward", "view_honour"},
}


class IncentivesConfig(AppConfig):
    name = "incentives"
    verbose_name = _("Incentives")

    def ready(self):
        from common import jobs
        from common.registry import admin_permissions_register, demo_step

        from . import handlers, services
        from .demo import build_demo_incentives

        for role, codenames in ADMIN_PERMISSIONS.items():
            admin_permissions_register(role, "incentives", codenames)
        handlers.connect()
        jobs.register(services.RECONCILE_JOB, _("Reconcile points balances"), services.reconcile_job,
                      task="incentives.tasks.reconcile_points")
        demo_step(build_demo_incentives)  # after the patrols, whose work it rewards
        _register_mobile_links()


def _register_mobile_links():
    """The points page on the phone's menu (common.registry): for everyone holding a role."""
    from common.registry import Link, mobile_menu
    from grid.access import holds_any
    from grid.models import Role

    mobile_menu.add(Link("incentives.index", _("Points"), "mobile_incentives:index", 50, holds_any(Role.values)))
