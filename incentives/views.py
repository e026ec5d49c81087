"""Mobile pages of the incentives app for micro-grid leaders: my points and their history, the rewards
catalogue and my redemptions, my expense claims with a receipt photo, and the ranking of my community.

Server-rendered; every form works without JavaScript (htmx only boosts them). Reads go through
`incentives.selectors` (and the ledger's and patrols' selectors for the sources of points), writes
through `incentives.services`; what is outside the user's scope answers 404. A refused form is
answered with the page and its errors (status 200, so that htmx swaps it in).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from common.forms import error_text, run_service
from common.periods import parse_period
from grid.scoped import scoped_object_or_404
from issues import selectors as issue_selectors
from patrols import selectors as patrol_selectors
from patrols.models import WorkKind

from . import selectors, services
from .forms import MEASURES, PERIODS, ClaimForm, RankingForm, RedeemForm, period_of
from .models import Redemption, Reward

ENTRIES_PER_PAGE = 30
REDEMPTIONS_PER_PAGE = 30
CLAIMS_PER_PAGE = 20
SHORT_LIST = 5
RANKING_ROWS = 50


# --- my points ----------------------------------------------------------------------------------


def _parse(source):
    """'issue:42:closed_satisfied:917' → ('issue', 42); a source without an id → (kind, None)."""
    parts = source.split(":")
    return parts[0], int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def _sources(user, entries):
    """Each entry with what it came from, readable: the issue's number (a link when the user sees the
    issue), the patrol's scenario and day, the work log's kind and day, the reward redeemed. One query
    per kind of source on the page, whatever the number of entries."""
    parsed = [_parse(e.source) for e in entries]
    ids = {kind: {pk for k, pk in parsed if k == kind and pk} for kind in ("issue", "patrol", "worklog")}
    issues = dict(issue_selectors.visible_issues(user).filter(pk__in=ids["issue"]).values_list("pk", "number")) \
        if ids["issue"] else {}
    patrols = {p["pk"]: p for p in patrol_selectors.visible_patrols(user).filter(pk__in=ids["patrol"])
               .values("pk", "date", "plan__scenario__name")} if ids["patrol"] else {}
    logs = {w["pk"]: w for w in patrol_selectors.visible_worklogs(user).filter(pk__in=ids["worklog"])
            .values("pk", "date", "kind")} if ids["worklog"] else {}
    kinds = dict(WorkKind.choices)
    rows = []
    for e, (kind, pk) in zip(entries, parsed):
        source = {"text": e.note or e.source}
        if kind == "issue":
            number = issues.get(pk)
            source["text"] = _("Issue %s") % (number or f"#{pk}")
            source["issue"] = pk if number else None
        elif kind == "patrol":
            p = patrols.get(pk)
            source["text"] = (_("Patrol: %(scenario)s, %(date)s") % {
                "scenario": p["plan__scenario__name"], "date": p["date"].isoformat()} if p else _("A joint patrol"))
            source["patrol"] = pk if p else None
        elif kind == "worklog":
            w = logs.get(pk)
            source["text"] = (_("Work log: %(kind)s, %(date)s") % {
                "kind": kinds.get(w["kind"], w["kind"]), "date": w["date"].isoformat()} if w else _("A work log"))
            source["worklog"] = bool(w)
        elif kind == "redemption":
            source["text"] = _("Redeemed: %s") % e.note if e.note else _("A redemption")
            source["redemption"] = True
        elif kind == "reverse":
            source["text"] = e.note or _("A reversal")
        if e.rule_id:
            label = e.rule.name
        elif kind == "redemption":
            label = _("Reward redeemed")
        elif e.reverses_id:
            label = _("Reversal")
        else:
            label = _("Points")
        rows.append({"entry": e, "label": label, "source": source})
    return rows


@login_required
def index(request):
    """My balance, this month's points and my rank in my community; my history, newest first; my
    honours and the street's care visits to me."""
    user = request.user
    summary = selectors.account_summary(user)
    entries = (selectors.visible_entries(user).filter(account__user=user).select_related("rule")
               .order_by("-created_at", "-id"))
    page = Paginator(entries, ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    honours = list(selectors.visible_honours(user).filter(person=user).select_related("node")[:SHORT_LIST])
    visits = list(selectors.visible_carevisits(user).filter(leader=user).select_related("visitor")[:SHORT_LIST])
    return render(request, "mobile/incentives/index.html", {
        "tab": "points", "summary": summary, "page": page, "rows": _sources(user, list(page)),
        "honours": honours, "visits": visits,
    })


# --- rewards ------------------------------------------------------------------------------------


def catalogue(user):
    """The active rewards the user may redeem: those offered by their street or community."""
    qs = selectors.visible_rewards(user).filter(active=True)
    if not user.is_superuser:
        qs = qs.filter(selectors.offered_to_q(user))
    return qs.select_related("node").order_by("cost", "name", "pk")


def _rewards(request, bound=None):
    user = request.user
    balance = selectors.visible_accounts(user).filter(user=user).values_list("balance", flat=True).first() or 0
    rows = []
    for reward in catalogue(user):
        form = bound if bound is not None and bound.reward.pk == reward.pk else RedeemForm(reward=reward)
        rows.append({"reward": reward, "form": form, "short": max(0, reward.cost - balance)})
    return render(request, "mobile/incentives/rewards.html", {
        "tab": "rewards", "rows": rows, "balance": balance, "bound": bound,
    })


@login_required
def rewards(request):
    return _rewards(request)


@login_required
def redeem(request, pk):
    """Redeem one reward: points and stock fall together, or nothing is written and the form says why."""
    user = request.user
    reward = scoped_object_or_404(catalogue(user), pk=pk)
    if request.method != "POST":
        return redirect("mobile_incentives:rewards")
    form = RedeemForm(request.POST, reward=reward)
    if not form.is_valid():
        return _rewards(request, bound=form)
    try:
        redemption, ok = run_service(form, lambda: services.reward_redeem(
            actor=user, reward_id=reward.pk, quantity=form.cleaned_data["quantity"]))
    except Reward.DoesNotExist:
        raise Http404 from None
    if ok:
        messages.success(request, _("Redeemed: %(reward)s × %(n)d for %(points)d points. The staff will hand it over.")
                         % {"reward": reward.name, "n": redemption.quantity, "points": redemption.points})
        return redirect("mobile_incentives:redemptions")
    return _rewards(request, bound=form)


def my_redemptions(user):
    return selectors.visible_redemptions(user).filter(account__user=user)


@login_required
def redemptions(request):
    user = request.user
    qs = my_redemptions(user).select_related("reward__node").order_by("-created_at", "-id")
    page = Paginator(qs, REDEMPTIONS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "mobile/incentives/redemptions.html", {
        "tab": "redemptions", "page": page, "requested": Redemption.State.REQUESTED,
    })


@login_required
def cancel(request, pk):
    """Cancel one of my redemptions not yet handed over: the points come back, the stock too."""
    user = request.user
    redemption = scoped_object_or_404(my_redemptions(user), pk=pk)
    if request.method != "POST":
        return redirect("mobile_incentives:redemptions")
    try:
        services.redemption_cancel(actor=user, redemption_id=redemption.pk)
    except ValidationError as e:
        for text in e.messages:
            messages.error(request, text)
    except PermissionDenied as e:
        messages.error(request, error_text(e))
    except Redemption.DoesNotExist:
        raise Http404 from None
    else:
        messages.success(request, _("Cancelled: %(points)d points are back on your account.")
                         % {"points": redemption.points})
    return redirect("mobile_incentives:redemptions")


# --- expense claims -----------------------------------------------------------------------------


@login_required
def claims(request):
    """My expense claims and a new one, with the receipt photographed on the spot."""
    user = request.user
    if request.method == "POST":
        form = ClaimForm(request.POST, request.FILES, user=user)
        if form.is_valid():
            claim, ok = run_service(form, lambda: services.claim_submit(actor=user, **form.service_data()))
            if ok:
                messages.success(request, _("Your claim of %(amount)s yuan is submitted to %(fund)s.")
                                 % {"amount": claim.amount, "fund": claim.fund.name})
                return redirect("mobile_incentives:claims")
    else:
        form = ClaimForm(user=user)
    qs = selectors.visible_claims(user).filter(leader=user).select_related("fund").order_by("-submitted_at", "-id")
    page = Paginator(qs, CLAIMS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "mobile/incentives/claims.html", {
        "tab": "claims", "form": form, "page": page,
        # A browser never sends a file back: say so when a receipt was chosen and the form failed.
        "receipt_lost": request.method == "POST" and bool(request.FILES),
    })


# --- ranking ------------------------------------------------------------------------------------


@login_required
def ranking(request):
    """The ranking of my community for this month, quarter or year, by points, by satisfied
    closures or by work logs; my own row highlighted."""
    user = request.user
    preset, by = RankingForm(request.GET).choice()
    node = selectors.home_node(user)
    period = period_of(preset)
    rows = selectors.rankings(node, period, by, limit=RANKING_ROWS) if node is not None else []
    mine = next((r for r in rows if r["user"] == user.pk), None)
    first, last = parse_period(period)
    return render(request, "mobile/incentives/ranking.html", {
        "tab": "ranking", "node": node, "rows": rows, "mine": mine, "preset": preset, "by": by,
        "presets": PERIODS, "measures": MEASURES, "first": first, "last": last,
        "measure": dict(MEASURES)[by],
    })
