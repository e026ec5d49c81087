"""What every page's template may read from the framework.

`mobile`: the phone pages' menu, home tiles and micro-grid card actions from `common.registry`,
each filtered by its link's `visible(user)` and with its URL resolved. Lazy: a page that does not
show them (the admin) costs nothing."""

from dataclasses import dataclass

from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from . import registry


@dataclass(frozen=True)
class ShownLink:
    key: str
    label: object
    url: str
    count: int | None = None


def shown_links(links, user):
    """The links of a registry this user sees, in order, with their URLs (and badge counts)."""
    if user is None or not user.is_authenticated:
        return []
    return [
        ShownLink(link.key, link.label, reverse(link.url_name), link.count(user) if link.count else None)
        for link in links.for_user(user)
    ]


def mobile(request):
    user = getattr(request, "user", None)
    return {
        "mobile_menu": SimpleLazyObject(lambda: shown_links(registry.mobile_menu, user)),
        "home_tiles": SimpleLazyObject(lambda: shown_links(registry.home_tiles, user)),
        "microgrid_actions": SimpleLazyObject(lambda: shown_links(registry.microgrid_actions, user)),
    }
