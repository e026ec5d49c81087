"""Mobile pages of the patrols app for micro-grid leaders: this period's plans, the patrol checklist, the
record of a patrol, the quick work-log entry, a leader's profile, and the monthly report (on the phone,
printable on A4, and as a workbook).

Server-rendered; every form works without JavaScript (htmx only boosts them). Reads go through
`patrols.selectors` (and the grid's and ledger's selectors), one object through
`grid.scoped.scoped_object_or_404`, writes through `patrols.services` with their errors put on the
forms by `common.forms`; what is outside the user's scope, or a malformed id, answers 404.
"""

from dataclasses import replace

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from common.excel import xlsx_response
from common.forms import add_service_errors, error_text
from grid import access
from grid import selectors as grid_selectors
from grid.models import Role
from grid.scoped import scoped_object_or_404
from issues import selectors as issue_selectors

from . import excel, selectors, services
from .forms import CAPACITIES, PRESETS, PatrolForm, PeriodForm, WorkLogForm
from .models import PatrolPlan, PlanState, WorkKind
from .report import snapshot

PLANS_PER_PAGE = 30
LATEST_REPORTS = 12
LATEST_LOGS = 20
LEADERS_LISTED = 50


# --- this period's plans ------------------------------------------------------------------------


@login_required
def index(request):
    """The plans of the current period the user can walk, and the latest monthly report(s)."""
    user = request.user
    plans = selectors.my_plans(user).select_related("patrol")
    page = Paginator(plans, PLANS_PER_PAGE).get_page(request.GET.get("page"))
    reports = selectors.visible_reports(user)
    latest = reports.order_by("-month").values_list("month", flat=True).first()
    latest_reports = (list(reports.filter(month=latest).select_related("node").order_by("node__level", "node__code")
                           [:LATEST_REPORTS]) if latest else [])
    for rep in latest_reports:
        rep.summary = snapshot(rep).summary()
    rows = [{"plan": p, "patrol": getattr(p, "patrol", None)} for p in page]
    return render(request, "mobile/patrols/index.html", {
        "page": page, "rows": rows, "reports": latest_reports, "planned": PlanState.PLANNED,
    })


# --- the patrol form ----------------------------------------------------------------------------


def _plan_or_404(user, pk):
    return scoped_object_or_404(selectors.plan_list(user).select_related("scenario__template", "patrol"), pk=pk)


@login_required
def plan(request, pk):
    """Walk a plan's checklist item by item and record the patrol with its findings."""
    user = request.user
    obj = _plan_or_404(user, pk)
    patrol = getattr(obj, "patrol", None)
    if patrol is not None:
        messages.info(request, _("This patrol is recorded already."))
        return redirect("mobile_patrols:record", patrol.pk)
    if not services.can_record(user, obj):
        return render(request, "mobile/patrols/plan_closed.html", {
            "plan": obj, "reason": _("Only role holders of this place record its patrols."),
        }, status=403)
    if obj.state != PlanState.PLANNED:
        return render(request, "mobile/patrols/plan_closed.html", {
            "plan": obj, "reason": _("This plan is %s; it takes no more records.") % obj.get_state_display(),
        })
    photos_lost = False
    if request.method == "POST":
        form = PatrolForm(request.POST, request.FILES, plan=obj, user=user)
        if form.is_valid():
            try:
                record = services.patrol_record(actor=user, plan_id=obj.pk, **form.service_data())
            except ValidationError as e:
                form.add_service_errors(e)
            except PermissionDenied as e:
                return render(request, "mobile/patrols/plan_closed.html", {
                    "plan": obj, "reason": error_text(e),
                }, status=403)
            except PatrolPlan.DoesNotExist:
                raise Http404
            else:
                issues = record.findings.count()
                messages.success(request, _("The patrol is recorded; %(n)d issue(s) went into the ledger.")
                                 % {"n": issues})
                return redirect("mobile_patrols:record", record.pk)
        # A browser never sends files back: say so when photos were chosen.
        photos_lost = bool(request.FILES)
    else:
        form = PatrolForm(plan=obj, user=user)
    return render(request, "mobile/patrols/plan.html", {
        "plan": obj, "form": form, "items": form.item_rows(), "outsiders": form.outsider_rows(),
        "capacities": CAPACITIES, "photos_lost": photos_lost,
    })


# --- the record of a patrol ---------------------------------------------------------------------


@login_required
def record(request, pk):
    user = request.user
    patrol = scoped_object_or_404(
        selectors.visible_patrols(user).select_related("plan__scenario", "plan__node", "recorded_by"), pk=pk)
    results = list(patrol.results.select_related("item").prefetch_related("photos"))
    findings = list(patrol.findings.select_related("issue__category", "issue__grid", "item"))
    roles = dict(Role.choices)
    visible = set(issue_selectors.visible_issues(user).filter(pk__in=[f.issue_id for f in findings])
                  .values_list("pk", flat=True)) if findings else set()
    return render(request, "mobile/patrols/record.html", {
        "patrol": patrol, "plan": patrol.plan, "results": results,
        # Roster people carry a role code, outsiders the capacity typed in.
        "participants": [(p, roles.get(p.role, p.role) if p.user_id else p.role) for p in patrol.participants.all()],
        "findings": [{"finding": f, "issue": f.issue, "visible": f.issue_id in visible} for f in findings],
    })


# --- work logs ----------------------------------------------------------------------------------


def _today_count(user):
    return selectors.visible_worklogs(user).filter(leader=user, date=timezone.localdate()).count()


@login_required
def worklog(request):
    """A piece of field work in three taps: the page, (a household,) the kind's button."""
    user = request.user
    if request.method == "POST" and "pick" in request.POST:
        # Without JavaScript, choosing another micro-grid reloads the form with its households.
        form = WorkLogForm(user=user, grid_id=request.POST.get("grid"),
                           initial={k: request.POST.get(k) for k in ("note", "date") if request.POST.get(k)})
    elif request.method == "POST":
        form = WorkLogForm(request.POST, user=user)
        if form.is_valid():
            d = form.cleaned_data
            try:
                entry = services.worklog_create(actor=user, kind=d["kind"], grid=d["grid"], date=d["date"],
                                                household=d["household"], note=d["note"])
            except PermissionDenied as e:
                form.add_error("grid", error_text(e))
            except ValidationError as e:
                add_service_errors(form, e)
            else:
                messages.success(request, _("Saved: %(kind)s, %(date)s. Today you have logged %(n)d piece(s) of work.")
                                 % {"kind": entry.get_kind_display(), "date": entry.date.isoformat(),
                                    "n": _today_count(user)})
                return redirect(f"{reverse('mobile_patrols:log')}?grid={entry.grid_id}")
    else:
        form = WorkLogForm(user=user, grid_id=request.GET.get("grid"))
    kinds = list(WorkKind.choices)  # home visit first: the commonest, one tap away
    return render(request, "mobile/patrols/worklog.html", {
        "form": form, "kinds": kinds, "today_count": _today_count(user),
    })


# --- a leader's profile -------------------------------------------------------------------------


@login_required
def profile(request, username=None):
    """Counts by kind of field work for a period, and the latest work logs: one's own, or those of a
    leader whose logs or roster line the viewer can see."""
    user = request.user
    logs = selectors.visible_worklogs(user)
    if username is None or username == user.username:
        leader = user
    else:
        leader = scoped_object_or_404(get_user_model().objects.all(), username=username)
        if not (logs.filter(leader=leader).exists()
                or grid_selectors.visible_roles(user).filter(user=leader).exists()):
            raise Http404
    period = PeriodForm(request.GET or None)
    start, end, preset = period.bounds()
    figures = selectors.work_profile(leader, start, end, logs=logs)
    labels = dict(WorkKind.choices)
    latest = list(logs.filter(leader=leader, date__range=(start, end))
                  .select_related("grid", "household", "issue").order_by("-date", "-id")[:LATEST_LOGS])
    leaders = []
    if leader == user:
        leaders = list(grid_selectors.visible_roles(user).active().filter(role=Role.LEADER).exclude(user=user)
                       .select_related("user", "node").order_by(*access.tree_order("node"), "user__username")
                       [:LEADERS_LISTED])
    return render(request, "mobile/patrols/profile.html", {
        "leader": leader, "own": leader == user, "period": period, "presets": PRESETS, "preset": preset,
        "start": start, "end": end, "figures": figures,
        "by_kind": [(k, labels[k], n) for k, n in figures["by_kind"].items()],
        "logs": latest, "leaders": leaders,
    })


# --- the monthly report -------------------------------------------------------------------------


def _report_or_404(user, pk):
    return scoped_object_or_404(selectors.visible_reports(user).select_related("node"), pk=pk)


def report_context(user, rep):
    """The stored report (its snapshot) for the phone and print pages: the issues the user may open,
    and the street roll-up's communities with their own reports."""
    snap = snapshot(rep)
    ids = snap.issue_ids()
    visible = set(issue_selectors.visible_issues(user).filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()
    communities = snap.communities or ()
    if communities:
        linked = dict(selectors.visible_reports(user).filter(
            month=rep.month, node_id__in=[c.id for c in communities]).values_list("node_id", "pk"))
        communities = [replace(c, report=linked.get(c.id)) for c in communities]
    return {
        "report": rep, "snapshot": snap, "node": snap.node, "month": rep.month, "patrols": snap.patrols,
        "found": snap.found, "solved_on_spot": snap.solved_on_spot, "by_state": snap.states(),
        "by_category": snap.by_category, "open": snap.open, "overdue": snap.overdue, "difficult": snap.difficult,
        "common": snap.common, "communities": communities, "thresholds": snap.thresholds, "visible": visible,
    }


@login_required
def report(request, pk):
    rep = _report_or_404(request.user, pk)
    return render(request, "mobile/patrols/report.html", report_context(request.user, rep))


@login_required
def report_print(request, pk):
    """The report as a standalone A4 page for the browser's print dialogue (no outside resources)."""
    rep = _report_or_404(request.user, pk)
    context = report_context(request.user, rep)
    context["printed_at"] = timezone.localtime()
    return render(request, "patrols/report_print.html", context)


@login_required
def report_xlsx(request, pk):
    rep = _report_or_404(request.user, pk)
    return xlsx_response(excel.report_workbook(rep), excel.report_stem(rep))
