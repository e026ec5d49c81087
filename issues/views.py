"""Mobile pages of the ledger: report an issue, an issue with its timeline and action forms, the queues.

Server-rendered; every form works without JavaScript (htmx only boosts them). The views hold no
business rules: they read through `issues.selectors`, write through `issues.services`, and turn the
services' answers into pages — a field error back on its form, a refusal or a conflict into a message.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from common.forms import add_service_errors, error_text
from grid import selectors as grid_selectors
from grid.access import parse_id
from grid.models import Role, mask_phone
from grid.scoped import scoped_object_or_404

from . import selectors, services, workflow
from .forms import ACTION_LABELS, ActionForm, ReportForm, handler_user_choices
from .models import OPEN_STATES, Issue, State

ISSUES_PER_PAGE = 20
# The states where a due time still matters (an issue resolved late is no longer "due").
LIVE_STATES = (State.HANDLING, State.VERIFYING, State.ANALYSIS, State.DISPOSAL)

# The actions whose form is open when the page loads: the usual next step in each state.
PRIMARY_ACTIONS = {"resolve_on_spot", "record", "assign", "submit_done", "verify", "give_feedback", "decide_extension"}

# name: (title, roles whose holders see this queue, sections as (key, label, filter))
QUEUES = {
    "leader": (
        gettext_lazy("To decide and to answer"),
        (Role.LEADER, Role.PARTY_BRANCH),
        [
            ("decide", gettext_lazy("To decide"), Q(state=State.REPORTED)),
            ("feedback", gettext_lazy("Waiting for feedback"), Q(state__in=[State.RESOLVED, State.UNRESOLVABLE])),
        ],
    ),
    "secretary": (
        gettext_lazy("Community desk"),
        (Role.SECRETARY, Role.STREET_STAFF),
        [
            ("assign", gettext_lazy("To assign"), Q(state=State.RECORDED)),
            ("verify", gettext_lazy("To verify"), Q(state=State.VERIFYING)),
            ("extension", gettext_lazy("Extensions"), Q(state=State.HANDLING, extension_until__isnull=False)),
            ("joint", gettext_lazy("Analysis and disposal"), Q(state__in=[State.ANALYSIS, State.DISPOSAL])),
        ],
    ),
    "handler": (
        gettext_lazy("To handle"),
        (Role.PROPERTY_STAFF,),
        [],
    ),
}


# --- report ---------------------------------------------------------------------------------------


@login_required
def report(request):
    """A leader (or anyone with a scope) puts a problem in the ledger, photos from the phone's camera."""
    user = request.user
    if request.method == "POST":
        form = ReportForm(request.POST, request.FILES, user=user)
        if form.is_valid():
            d = form.cleaned_data
            try:
                issue = services.issue_report(
                    actor=user, grid=d["grid"], category=d["category"], description=d["description"],
                    location=d["location"], priority=d["priority"], source=d["source"], photos=d["photos"],
                )
            except PermissionDenied as e:
                form.add_error("grid", error_text(e))
            except ValidationError as e:
                add_service_errors(form, e)
            else:
                messages.success(request, _("Issue %(number)s is in the ledger. Resolve it on the spot or record it.")
                                 % {"number": issue.number})
                return redirect("mobile_issues:detail", issue.pk)
    else:
        form = ReportForm(user=user, initial={"grid": request.GET.get("grid", "")})  # a bad code is ignored
    return render(request, "mobile/issues/report.html", {"form": form})


# --- one issue ------------------------------------------------------------------------------------


def _issue_or_404(user, pk):
    qs = selectors.issue_list(user).select_related("reporter", "merged_into")
    return scoped_object_or_404(qs, pk=pk)


def _detail(request, issue, bound=None, status=200):
    user = request.user
    timeline = selectors.timeline(issue)
    actions = services.allowed_actions(user, issue)
    actions.sort(key=lambda a: a not in PRIMARY_ACTIONS)  # the usual next step first; stable otherwise
    forms = []
    for action in actions:
        if bound is not None and bound.action == action:
            form = bound
        else:
            form = ActionForm(issue=issue, action=action, user=user)
        forms.append({"action": action, "form": form, "primary": action in PRIMARY_ACTIONS,
                      "open": (bound is not None and bound.action == action)
                      or action in PRIMARY_ACTIONS or len(actions) == 1})
    path = grid_selectors.node_paths([issue.grid])[issue.grid.pk]
    photos = timeline[0]["photos"] if timeline and timeline[0]["action"] == "report" else []
    if issue.reporter_id:
        reporter = str(issue.reporter)
    else:
        phone = issue.reporter_phone if grid_selectors.can_see_phones(user) else mask_phone(issue.reporter_phone)
        reporter = " · ".join(x for x in (issue.reporter_name, phone) if x) or _("a resident")
    context = {
        "issue": issue,
        "path": path,
        "photos": photos,
        "timeline": timeline,
        "forms": forms,
        "bound": bound,
        "reporter": reporter,
        "is_open": issue.state in OPEN_STATES,
        "handler_users": handler_user_choices(issue) if "assign" in actions else (),
        "merge_targets": (
            selectors.visible_issues(user).filter(grid=issue.grid, state__in=OPEN_STATES, merged_into__isnull=True)
            .exclude(pk=issue.pk).only("number", "title").order_by("-reported_at")[:30]
            if "merge" in actions else ()
        ),
    }
    return render(request, "mobile/issues/detail.html", context, status=status)


@login_required
def detail(request, pk):
    issue = _issue_or_404(request.user, pk)
    return _detail(request, issue)


@login_required
def act(request, pk, action):
    """One workflow action from the issue page: POST only; a GET (a reload, a language switch) goes
    back to the issue."""
    user = request.user
    issue = _issue_or_404(user, pk)
    if request.method != "POST":
        return redirect("mobile_issues:detail", issue.pk)
    if action not in workflow.USER_ACTIONS:
        raise Http404
    back = redirect("mobile_issues:detail", issue.pk)
    conflict = _("Someone else changed this issue meanwhile. Here is its new state; check it before you act again.")
    version = parse_id(request.POST.get("version", ""))
    if version != issue.version:
        messages.warning(request, conflict)
        return back
    rule = workflow.rule_for(issue.state, action)
    if rule is None:
        messages.error(request, _("“%(action)s” is not possible while the issue is %(state)s.")
                       % {"action": ACTION_LABELS[action], "state": issue.get_state_display()})
        return back
    if not services.actor_roles(user, issue) & set(rule.roles):
        messages.error(request, _("Your role does not allow this action on this issue."))
        return back
    # State and role allow it; the issue's own situation may not (the handler verifying their own work,
    # a second extension request). Then the page shows no form for it, so its errors go in a message.
    shown = action in services.allowed_actions(user, issue)
    form = ActionForm(request.POST, request.FILES, issue=issue, action=action, user=user)
    if not form.is_valid():
        if shown:
            return _detail(request, issue, bound=form)
        messages.error(request, _("This action is not possible on this issue now."))
        return back
    try:
        issue, _event = services.issue_transition(
            issue_id=issue.pk, action=action, actor=user, version=version,
            photos=form.cleaned_data.get("photos") or (), **form.service_data(),
        )
    except ValidationError as e:
        if not shown:
            for text in e.messages:
                messages.error(request, text)
            return back
        add_service_errors(form, e)
        return _detail(request, issue, bound=form)
    except PermissionDenied as e:
        messages.error(request, error_text(e))
        return back
    except services.IssueConflict:
        messages.warning(request, conflict)
        return back
    except Issue.DoesNotExist:
        raise Http404
    messages.success(request, _("%(action)s: done. New state: %(state)s.")
                     % {"action": ACTION_LABELS[action], "state": issue.get_state_display()})
    if not selectors.visible_issues(user).filter(pk=issue.pk).exists():
        # Returned by its handler: the issue has left their hands, and their sight.
        return redirect("mobile_issues:index")
    return back


# --- queues ---------------------------------------------------------------------------------------


def my_queues(user):
    """The queues that fit the user's roles, in a fixed order."""
    if user.is_superuser:
        return list(QUEUES)
    roles = set(grid_selectors.my_roles(user).values_list("role", flat=True))
    return [name for name, (_t, for_roles, _s) in QUEUES.items() if roles & set(for_roles)]


@login_required
def index(request):
    """'My queue': the first queue that fits the user's roles."""
    names = my_queues(request.user)
    if names:
        return redirect("mobile_issues:queue", names[0])
    return render(request, "mobile/issues/queue.html", {"queues": [], "name": None})


@login_required
def queue(request, name):
    """One queue, paginated: number, title, place, due time and card. The number of queries does
    not depend on the number of rows."""
    if name not in QUEUES:
        raise Http404
    user = request.user
    title, _roles, sections = QUEUES[name]
    names = my_queues(user)
    if name not in names:
        names.append(name)
    qs = selectors.queue(user, name)
    counts = {}
    if sections:
        counts = qs.aggregate(**{key: Count("pk", filter=q) for key, _label, q in sections})
    section = request.GET.get("section", "")
    filters = {key: q for key, _label, q in sections}
    if section in filters:
        qs = qs.filter(filters[section])
    else:
        section = ""
    page = Paginator(qs, ISSUES_PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page)
    paths = grid_selectors.node_paths([i.grid for i in rows])
    context = {
        "name": name,
        "title": title,
        "queues": [(n, QUEUES[n][0]) for n in names],
        "sections": [(key, label, counts.get(key, 0)) for key, label, _q in sections],
        "section": section,
        "live_states": LIVE_STATES,
        "page": page,
        "rows": [
            {"issue": i, "place": [a for a in paths[i.grid_id] if a.level > 1]}
            for i in rows
        ],
    }
    return render(request, "mobile/issues/queue.html", context)

