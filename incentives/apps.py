from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

_READ = {"view_pointrule", "view_entry", "view_account", "view_reward", "view_redemption", "view_honour",
         "view_carevisit", "view_fund", "view_expenseclaim"}
# The incentives' permissions for the admin groups of grid's roles (see grid.services.ADMIN_GROUPS).
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
        from grid import demo
        from grid.services import admin_permissions_register

        from . import handlers
        from .demo import build_demo_incentives

        for role, codenames in ADMIN_PERMISSIONS.items():
            admin_permissions_register(role, "incentives", codenames)
        handlers.connect()
        if build_demo_incentives not in demo.DEMO_STEPS:  # after the patrols, whose work it rewards
            demo.DEMO_STEPS.append(build_demo_incentives)
