"""Printable notice boards (公示牌), one A4 page per micro-grid, for logged-in staff in their scope.

The QR code is an inline SVG drawn by segno on the server: the page loads nothing from outside.
It encodes the absolute URL of the micro-grid's report page, on settings.PUBLIC_BASE_URL when set
(the address residents' phones reach, which may differ from the intranet address staff print from),
else on the host of the request.
"""

import segno
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import mark_safe

from grid import access
from grid import selectors as grid_selectors
from grid.models import Level
from grid.scoped import scoped_object_or_404


def report_url(request, code):
    path = reverse("public:report", args=[code])
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f"{base}{path}" if base else request.build_absolute_uri(path)


def qr_svg(url):
    """The QR code of `url` as an inline, size-free SVG (the print CSS sizes it)."""
    qr = segno.make(url, error="m", micro=False)
    return mark_safe(qr.svg_inline(border=2, omitsize=True, svgclass="qr", lineclass="qr-line"))


def _boards(request, microgrids):
    """One board per micro-grid, in three queries whatever their number: the nodes (given), the
    paths above them, and their A-post leaders."""
    microgrids = list(microgrids)
    paths = grid_selectors.node_paths(microgrids)
    leaders = {
        ra.node_id: ra
        for ra in grid_selectors.active_a_post().filter(node__in=[n.pk for n in microgrids]).select_related("user")
    }
    boards = []
    for node in microgrids:
        leader = leaders.get(node.pk)
        url = report_url(request, node.code)
        boards.append({
            "node": node,
            "path": paths[node.pk][:-1],
            "leader_name": leader.user.name if leader else "",
            "leader_phone": leader.public_phone if leader else "",
            "vacant": leader is None,
            "report_url": url,
            "qr": qr_svg(url),
        })
    return boards


@login_required
def board(request, code):
    node = scoped_object_or_404(grid_selectors.visible_nodes(request.user), code=code, level=Level.MICROGRID)
    return render(request, "public/boards.html", {"title": node.name, "boards": _boards(request, [node])})


@login_required
def board_community(request, code):
    visible = grid_selectors.visible_nodes(request.user)
    community = scoped_object_or_404(visible, code=code, level=Level.COMMUNITY)
    microgrids = visible.filter(access.subtree_q(community), level=Level.MICROGRID).order_by(*access.tree_order())
    return render(request, "public/boards.html", {
        "title": community.name, "community": community, "boards": _boards(request, microgrids),
    })
