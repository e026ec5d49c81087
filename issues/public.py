"""The residents' pages (no account): a micro-grid's report page behind the QR code of its notice
board, the tracking page of one issue, and a community's announcements (公告).

Nothing here shows personal data: not the reporter's name or phone, not a handler's name, not a
leader's private phone (only the public phone of the roster line), not an issue's description.

Rate limits. Reports are counted per client IP and per micro-grid in fixed one-hour windows (so
around the turn of an hour up to twice the limit can pass) in Django's cache: Redis in production,
so every web worker shares the counts; locmem in embedded mode, which counts per process. A report
counts when it is accepted (or caught by the honeypot); a form sent back with errors does not, so a
resident's typing mistakes do not use up a quota that many phones behind one carrier NAT share.

The client IP is `REMOTE_ADDR` and nothing else: X-Forwarded-For is written by the client and cannot
be trusted. Behind a reverse proxy the deployment must make REMOTE_ADDR the client's address, e.g. a
WSGI wrapper in config/wsgi.py that, only when the peer is the known proxy, copies the header the
proxy sets (nginx: `proxy_set_header X-Real-IP $remote_addr;`) into REMOTE_ADDR, or gunicorn's
`--proxy-protocol` behind a TCP proxy that speaks it. Otherwise every resident shares the proxy's
address, and one quota. IPv6 clients are counted per /64, the block one phone or home is given.
"""

import ipaddress
import secrets
import time

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from grid import selectors as grid_selectors
from grid.models import GridNode, Level
from grid.scoped import clean_lookups, scoped_object_or_404

from . import selectors, services
from .models import FeedbackChannel, Issue, Source
from .public_forms import ReportForm

WINDOW = 3600  # seconds: the limits are per hour
SENT_SALT = "issues.public.sent"

FEEDBACK_CHANNELS = dict(FeedbackChannel.choices)

MAX_MERGE_HOPS = 5


# --- rate limits ------------------------------------------------------------------------------


def client_ip(request):
    """The address the limits count: REMOTE_ADDR (see the module's docstring), IPv6 per /64."""
    raw = request.META.get("REMOTE_ADDR", "") or "unknown"
    try:
        addr = ipaddress.ip_address(raw)
    except ValueError:
        return raw
    if addr.version == 6:
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return f"{ipaddress.ip_network(f'{addr}/64', strict=False).network_address}/64"
    return str(addr)


def _limit_keys(request, node):
    window = int(time.time() // WINDOW)
    return [
        (f"public-report:ip:{client_ip(request)}:{window}", settings.RESIDENT_REPORTS_PER_IP_PER_HOUR),
        (f"public-report:node:{node.pk}:{window}", settings.RESIDENT_REPORTS_PER_NODE_PER_HOUR),
    ]


def _over_limit(keys):
    counts = cache.get_many([k for k, _limit in keys])
    return any(counts.get(k, 0) >= limit for k, limit in keys)


def _count(keys):
    """Count one report in every window; True when that went over a limit (a concurrent report got
    the last place first). The increments are atomic in Redis and in locmem."""
    over = False
    for key, limit in keys:
        cache.add(key, 0, WINDOW + 60)
        try:
            n = cache.incr(key)
        except ValueError:  # the window expired between add and incr
            cache.set(key, 1, WINDOW + 60)
            n = 1
        over = over or n > limit
    return over


def _too_many(request, node):
    response = render(request, "public/too_many.html", _page_context(node), status=429)
    response["Retry-After"] = str(WINDOW - int(time.time()) % WINDOW)
    return response


# --- the report page --------------------------------------------------------------------------


def _microgrid(code):
    return scoped_object_or_404(GridNode.objects.all(), code=code, level=Level.MICROGRID)


def _leader(node):
    return grid_selectors.active_a_post().filter(node=node).select_related("user").first()


def _page_context(node):
    path = grid_selectors.node_paths([node])[node.pk][:-1]
    community = next((a for a in path if a.level == Level.COMMUNITY), None)
    leader = _leader(node)
    return {
        "node": node,
        "path": path,
        "community": community,
        "leader_name": leader.user.name if leader else "",
        "leader_phone": leader.public_phone if leader else "",
        "vacant": leader is None,
    }


# never_cache: WeChat's browser keeps pages long; a stale form carries a stale CSRF token, a stale
# tracking page old progress.
@never_cache
@require_http_methods(["GET", "POST"])
def report(request, code):
    node = _microgrid(code)
    if request.method == "POST":
        keys = _limit_keys(request, node)
        if _over_limit(keys):
            return _too_many(request, node)
        form = ReportForm(request.POST, request.FILES)
        if form.is_bot:
            # Answer as if it worked, so that the bot learns nothing; store nothing. It still counts.
            _count(keys)
            return _sent_redirect(node, "".join(secrets.choice(services.TRACKING_ALPHABET) for _ in range(10)))
        if form.is_valid():
            if _count(keys):
                return _too_many(request, node)
            data = form.cleaned_data
            try:
                issue = services.issue_report(
                    actor=None, source=Source.RESIDENT, grid=node, category=data["category"],
                    description=data["description"], reporter_name=data["name"], reporter_phone=data["phone"],
                    photos=[data["photo"]] if data["photo"] else [],
                )
            except ValidationError as e:
                form.add_service_errors(e)  # onto the form's own field names
            else:
                return _sent_redirect(node, issue.tracking_code)
    else:
        form = ReportForm()
    return render(request, "public/report.html", {**_page_context(node), "form": form})


def _sent_redirect(node, tracking_code):
    # Post/redirect/get: reloading the answer does not post the report again. The code travels signed,
    # so this page only ever shows a code this server handed out.
    token = signing.dumps([node.code, tracking_code], salt=SENT_SALT)
    return redirect("public:sent", code=node.code, token=token)


@never_cache
def sent(request, code, token):
    try:
        node_code, tracking_code = signing.loads(token, salt=SENT_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        raise Http404
    if node_code != code:
        raise Http404
    node = _microgrid(code)
    track_url = request.build_absolute_uri(reverse("public:track", args=[tracking_code]))
    return render(request, "public/sent.html", {"node": node, "tracking_code": tracking_code, "track_url": track_url})


# --- tracking ---------------------------------------------------------------------------------


def _progress(issue):
    """The public view of one issue: no description, no names, no phones, no internal notes."""
    timeline = selectors.timeline(issue, public=True)
    feedback = None
    last = issue.events.filter(action="give_feedback").order_by("-created_at", "-id").values("data", "created_at").first()
    if last:
        data = last["data"] or {}
        feedback = {
            "channel": FEEDBACK_CHANNELS.get(data.get("channel"), ""),
            "text": data.get("text", ""),
            "at": last["created_at"],
        }
    return {
        "number": issue.number,
        "category": issue.category.name,
        "place": issue.grid.name,
        "state": issue.get_state_display(),
        "state_code": issue.state,
        "reported_at": issue.reported_at,
        "timeline": timeline,
        "feedback": feedback,
        "announcement": issue.announcement if issue.announced_at else "",
        "announced_at": issue.announced_at,
    }


@never_cache
def track(request, code):
    issues = Issue.objects.select_related("category", "grid")
    issue = scoped_object_or_404(issues, tracking_code=code.strip().upper())
    merged = []
    seen = {issue.pk}
    current = issue
    # The reporter of a duplicate follows the issue it was merged into (and on, should that one have
    # been merged in turn).
    while current.merged_into_id and current.merged_into_id not in seen and len(merged) < MAX_MERGE_HOPS:
        current = issues.get(pk=current.merged_into_id)
        seen.add(current.pk)
        merged.append(_progress(current))
    response = render(request, "public/track.html", {
        "tracking_code": issue.tracking_code, "progress": _progress(issue), "merged": merged,
    })
    response["X-Robots-Tag"] = "noindex"
    return response


@never_cache
def track_lookup(request):
    """/track/?code=… : for a resident who kept the code but not the link."""
    code = request.GET.get("code", "").strip().upper()
    if code:
        if _known_code(code):
            return redirect("public:track", code=code)
        return render(request, "public/track_lookup.html", {"code": code, "unknown": True}, status=404)
    return render(request, "public/track_lookup.html", {"code": ""})


def _known_code(code):
    try:
        clean_lookups({"tracking_code": code})
    except Http404:
        return False  # a NUL byte or an overlong code is no code
    return Issue.objects.filter(tracking_code=code).exists()


# --- announcements ----------------------------------------------------------------------------

ANNOUNCEMENTS_PER_PAGE = 30


def announcements(request, code):
    community = scoped_object_or_404(GridNode.objects.all(), code=code, level=Level.COMMUNITY)
    page = Paginator(selectors.announcements(community), ANNOUNCEMENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "public/announcements.html", {"community": community, "page": page})
