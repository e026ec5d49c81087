"""Mobile pages for micro-grid leaders and other role holders: server-rendered, htmx-enhanced."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from . import selectors
from .models import CareTag, Level, mask_phone
from .scoped import query_text, scoped_object_or_404

HOUSEHOLDS_PER_PAGE = 50


class LoginView(auth_views.LoginView):
    template_name = "mobile/login.html"
    redirect_authenticated_user = True


@login_required
def home(request):
    """'My grid': the user's roster entries and the micro-grids they lead, with the path above each."""
    user = request.user
    roles = selectors.my_roles(user).select_related("node", "organisation")
    grids = list(
        selectors.my_microgrids(user).annotate(household_count=Count("households"))
    )
    paths = selectors.node_paths(grids + [r.node for r in roles])
    return render(
        request,
        "mobile/home.html",
        {
            "roles": [(r, paths[r.node_id][:-1]) for r in roles],
            "grids": [(g, paths[g.pk][:-1]) for g in grids],
        },
    )


@login_required
def microgrid(request, code):
    """A micro-grid's households, searchable and filterable by care tag; phones masked."""
    user = request.user
    node = scoped_object_or_404(selectors.visible_nodes(user), code=code, level=Level.MICROGRID)
    households = selectors.visible_households(user).filter(grid=node).prefetch_related("tags")
    q = query_text(request.GET, "q")
    tag = query_text(request.GET, "tag")
    if q:
        households = households.filter(Q(head__icontains=q) | Q(room__icontains=q))
    if tag:
        households = households.filter(tags__code=tag)
    page = Paginator(households.order_by("building", "unit", "room", "id"), HOUSEHOLDS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    show_phones = selectors.can_see_phones(user)
    rows = [(h, h.phone if show_phones else mask_phone(h.phone)) for h in page]
    leaders = (
        selectors.visible_roles(user).active().filter(node=node, role="leader").select_related("user")
    )
    context = {
        "node": node,
        "path": selectors.node_paths([node])[node.pk][:-1],
        "page": page,
        "rows": rows,
        "leaders": leaders,
        "tags": CareTag.objects.all(),
        "q": q,
        "tag": tag,
    }
    # htmx swaps in the list only; restoring a pushed URL that is not in its history cache needs the
    # whole page. The response varies on the header, so no cache hands the fragment to a page load.
    partial = request.htmx and not request.htmx.history_restore_request
    template = "mobile/_households.html" if partial else "mobile/microgrid.html"
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request", "HX-History-Restore-Request"))
    return response
