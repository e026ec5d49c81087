"""Registries that let a lower app show what the apps above it offer, without importing them.

- `mobile_menu` / `home_tiles`: links on the phone pages; each app's `ready()` adds its own, with the
  test (a function of the user) that decides whether the user sees it. Templates read them through
  the `common.context_processors.mobile` context processor.
- `admin_groups`: {role: {app label: codenames or None}} for the admin groups of the roles.
- `demo_steps`: the demo's builders, in order (grid first, then each app above).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Link:
    key: str
    label: object  # a lazy translation
    url_name: str
    order: int = 100
    visible: object = None  # user → bool; None: everyone logged in
    count: object = None  # user → int shown as a badge; None: no badge

    def shown_to(self, user):
        return self.visible is None or bool(self.visible(user))


class Links:
    def __init__(self):
        self._links = {}

    def add(self, link):
        self._links[link.key] = link  # re-registering (tests, reloads) replaces

    def for_user(self, user):
        return [link for link in sorted(self._links.values(), key=lambda x: (x.order, x.key)) if link.shown_to(user)]

    def __iter__(self):
        return iter(sorted(self._links.values(), key=lambda x: (x.order, x.key)))


mobile_menu = Links()
home_tiles = Links()

admin_groups = {}


def admin_permissions_register(role, app_label, codenames):
    """Add `codenames` of `app_label` to the role's group (None: every permission of the app). Several
    apps may register for one app label (common's job runs, say): the sets add up."""
    held = admin_groups.setdefault(str(role), {})
    if codenames is None or (app_label in held and held[app_label] is None):
        held[app_label] = None
    else:
        held[app_label] = held.get(app_label, set()) | set(codenames)


demo_steps = []


def demo_step(fn):
    """Add a demo builder once, after those already registered (apps' ready() run lower apps first)."""
    if fn not in demo_steps:
        demo_steps.append(fn)
    return fn


def _no_scope(user):
    return None


# The ids of the grid nodes a user sees (a queryset of ids, or None for every node). Grid sets it at
# start-up, so the framework's own pages (job runs) are scoped without importing grid.
# `can_see_phones`: user → whether they read full private phones (nobody until grid says).
scope = {"visible_node_ids": _no_scope, "can_see_phones": lambda user: False}


# Actions a higher app offers on one micro-grid's card of the phone's home page (report an issue
# here…): each link is a GET form to its url_name carrying `grid=<the micro-grid's code>`.
microgrid_actions = Links()
