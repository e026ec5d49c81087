"""Contract tests for every endpoint and page, in the way NetBox's reusable API and view test cases
work: a route does not get its tests written by hand; it declares what it shows (a *contract*) and the
cases are generated from the URL resolver and the admin registry.

Where the routes come from
- API: every named route under `/api/` in the URL resolver (the DRF router's list, detail and extra
  action routes, the API root, the token route, the schema and its docs page); format-suffix twins are
  the same views. A workflow action's route (`issue-action-<name>`, generated from the workflow table by
  one function) is covered by its family's entry, `action-*`.
- Admin: every ModelAdmin in `admin.site._registry`: its changelist, change, history and delete pages
  and every extra URL its `get_urls()` adds (exports, imports, action pages, certificates...).
- Pages: every route under `/m/`, `/r/`, `/track/`, `/announcements/` and `/boards/`.

A contract says which kind of row the route lists or shows (a kind of `tests.contracts_data`, so the
data builder knows how to make one), whether it is scoped (rows of another community or street are
not there), shared (street-wide configuration, the same for everyone) or the user's own, and what
extra views or query parameters it has. `missing_*()` name every route without a contract: the suite
fails for a new endpoint until it has one.

What every contract checks (the test functions are in tests/test_contracts.py)
- scope: for a leader, a secretary and the street staff of community A, every object of community B
  or of the other street answers 404 on its detail URL (API, admin change page, mobile page), is in no
  list (every page of an API list, admin changelist rows), in no count and in no Excel export;
- bad ids and filter values (`BAD_IDS`, and `BAD_DATES` for date, month and period parameters) on
  every detail route and every documented query parameter (the OpenAPI schema, the filtersets, the
  admin's list filters, the pages' own parameters): never a 500;
- phone masking: without `grid.view_full_phone`, no full phone of a household, a reporter or a person
  in any body, and lookups or ordering on a phone change nothing (no digit-by-digit reading);
- query budget: a list's first page costs as many queries with 20 rows as with 3.

A new endpoint or page: add its entry to `API`, `ADMIN` or `PAGES` below; a new kind of row also needs
a builder in `tests.contracts_data.KINDS` (one more row in a community) and its objects in `PICKS`.
"""

import io
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import quote

from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, reverse

BAD_IDS = ("abc", "0", "-1", "99999999999999999999999", "\x00")
BAD_DATES = ("0000-01-01", "9999-12-31T00:00:00+99:00")
DATE_NAMES = {"since", "until", "month", "period", "date", "reported_after", "reported_before"}
PLACEHOLDER = 987654321  # an id no row has; replaced by a bad value in a detail URL
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PHONE_RE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")

# How a row is scoped.
SCOPED = "scoped"  # rows hang on the tree: another community's or street's are not there
SHARED = "shared"  # street-wide configuration, the same for everyone signed in
OWN = "own"  # the user's own rows only (nothing of anybody else)
PUBLIC = "public"  # pages for residents without an account: what they show is public by design


# --- contracts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Api:
    """The contract of a router basename (one viewset) or of one named API route.

    kind: the kind of row its detail routes show (`tests.contracts_data.PICKS`), None for none.
    actions: its extra actions' url names after "<basename>-" ("action-*" covers a family).
    grows: {route suffix: (kind, user)}: what makes that route's answer longer, and who measures its
        query budget; default {"list": (kind, "staff")}.
    query: {route suffix: (parameter, side → value)} for routes that take their object from the query
        string (a leader's profile, a community's ranking): another side's value answers 404.
    phones: phone fields of its rows: lookups and ordering on them must change nothing.
    """

    kind: str | None = None
    scope: str = SCOPED
    actions: tuple = ()
    grows: dict | None = None
    query: dict = field(default_factory=dict)
    phones: tuple = ()

    def growth(self, suffix):
        grows = {"list": (self.kind, "staff")} if self.grows is None else self.grows
        return grows.get(suffix)


API = {
    "api-root": Api(scope=SHARED, grows={}),
    "api-token": Api(scope=PUBLIC, grows={}),
    "schema": Api(scope=SHARED, grows={}),
    "api-docs": Api(scope=SHARED, grows={}),
    "node": Api("node", actions=("stats",)),
    "household": Api("household", phones=("phone",)),
    "role": Api("role"),
    "organisation": Api("organisation"),
    "issue-category": Api("category", SHARED),
    "issue": Api("issue", actions=("events", "other-action", "action-*"), phones=("reporter_phone",),
                 grows={"list": ("issue", "staff"), "events": ("event", "staff")}),
    "patrol-scenario": Api("scenario", SHARED),
    "patrol-plan": Api("plan"),
    "patrol-worklog": Api("worklog", actions=("profile",), query={"profile": ("leader", lambda s: s.leader.username)},
                          grows={"list": ("worklog", "staff"), "profile": ("worklog", "leader")}),
    "patrol-report": Api("report"),
    "patrol": Api("patrol"),
    "incentive-account": Api(None, OWN, actions=("me",), grows={"me": ("entry", "leader")}),
    "incentive-entry": Api("entry"),
    "incentive-rule": Api("rule", SHARED),
    "incentive-reward": Api("reward", actions=("redeem",)),
    "incentive-redemption": Api("redemption", actions=("cancel", "fulfil")),
    "incentive-ranking": Api(None, query={"list": ("node", lambda s: s.community.pk)},
                             grows={"list": ("account", "staff")}),
    "incentive-fund": Api("fund", actions=("report",)),
    "incentive-claim": Api("claim", actions=("approve", "pay", "reject")),
}

# Values for the other keyword arguments of a route (the issue's generic action route).
ROUTE_KWARGS = {"name": "no_such_action"}


@dataclass(frozen=True)
class Admin:
    """The contract of one ModelAdmin.

    views: its extra URL names → "export" (an .xlsx of the list), "page" (a page of the list),
    ("object", {kwargs}) (a page of one object; `object_id` is filled in), ("object-export", {...}).
    phones: the model's phone fields: for a user without the right, lookups and ordering on them change
    nothing. missing: what a bad or outside id answers, "404" (ours) or "redirect" (Django's stock
    registers, shared configuration: a redirect to the admin index saying the object does not exist).
    """

    kind: str | None
    scope: str = SCOPED
    views: dict = field(default_factory=dict)
    phones: tuple = ()
    budget_user: str = "staff"
    missing: str = "404"


ADMIN = {
    "auth.group": Admin("group", SHARED, budget_user="root", missing="redirect"),
    "authtoken.tokenproxy": Admin("token", SHARED, budget_user="root", missing="redirect"),
    "grid.gridnode": Admin("node", views={"grid_gridnode_export": "export", "grid_gridnode_import": "page"}),
    "grid.household": Admin("household", views={"grid_household_export": "export", "grid_household_import": "page"},
                            phones=("phone",)),
    "grid.organisation": Admin("organisation", views={"grid_organisation_export": "export",
                                                      "grid_organisation_import": "page"}),
    "grid.roleassignment": Admin("role", views={"grid_roleassignment_export": "export",
                                                "grid_roleassignment_export_a_posts": "export",
                                                "grid_roleassignment_import": "page"}),
    "grid.caretag": Admin("caretag", SHARED, missing="redirect"),
    "grid.changelog": Admin("changelog"),
    "grid.user": Admin("user", views={"auth_user_password_change": ("object", {})}, phones=("phone",)),
    "grid.apostroster": Admin("apost"),
    "grid.vacantmicrogrid": Admin("vacant"),
    "issues.issue": Admin("issue", views={"issues_issue_export": "export",
                                          "issues_issue_act": ("object", {"action": "assign"})},
                          phones=("reporter_phone",)),
    "issues.category": Admin("category", SHARED, missing="redirect"),
    "issues.calendaroverride": Admin("calendar", SHARED, missing="redirect"),
    "issues.notification": Admin("notification", phones=("address",)),
    "patrols.checklisttemplate": Admin("template", SHARED),
    "patrols.scenario": Admin("scenario", SHARED),
    "patrols.patrolplan": Admin("plan"),
    "patrols.patrol": Admin("patrol"),
    "patrols.worklog": Admin("worklog", views={"patrols_worklog_export": "export"}),
    "patrols.monthlyreport": Admin("report"),
    "patrols.meeting": Admin("meeting"),
    "common.jobrun": Admin("jobrun", views={"common_jobrun_run": "page"}),
    "incentives.pointrule": Admin("rule", SHARED),
    "incentives.entry": Admin("entry", views={"incentives_entry_export": "export",
                                              "incentives_entry_reverse": ("object", {})}),
    "incentives.account": Admin("account"),
    "incentives.reward": Admin("reward"),
    "incentives.redemption": Admin("redemption"),
    "incentives.honour": Admin("honour", views={"incentives_honour_rankings": "page",
                                                "incentives_honour_rankings_export": "export",
                                                "incentives_honour_certificate": ("object", {})}),
    "incentives.carevisit": Admin("carevisit"),
    "incentives.fund": Admin("fund", views={"incentives_fund_report_export": ("object-export", {})}),
    "incentives.expenseclaim": Admin("claim"),
}

# Every ModelAdmin has these; their names are <app>_<model>_<suffix>.
ADMIN_STANDARD = ("changelist", "add", "history", "delete", "change")


@dataclass(frozen=True)
class Page:
    """The contract of one mobile or public page.

    kind: the kind of object in its URL (None: a page of lists); arg: the URL keyword that names the
    object and how (obj → value); kwargs: its other URL keywords; params: the query parameters it reads
    (each gets the bad values); viewer: who sees side A's object (the positive control).
    """

    kind: str | None = None
    arg: tuple | None = None
    scope: str = SCOPED
    kwargs: dict = field(default_factory=dict)
    params: tuple = ()
    viewer: str = "staff"
    xlsx: bool = False


def _pk(obj):
    return obj.pk


def _code(obj):
    return obj.code


PAGES = {
    "mobile:home": Page(),
    "mobile:login": Page(scope=PUBLIC, params=("next",)),
    "mobile:logout": Page(scope=PUBLIC),  # POST only: a GET answers 405
    "mobile:microgrid": Page("node", ("code", _code), params=("q", "tag", "page")),
    "mobile_issues:index": Page(),
    "mobile_issues:report": Page(params=("grid",)),
    "mobile_issues:queue": Page(kwargs={"name": "secretary"}, params=("section", "page")),
    "mobile_issues:detail": Page("issue", ("pk", _pk)),
    "mobile_issues:act": Page("issue", ("pk", _pk), kwargs={"action": "assign"}),
    "mobile_patrols:index": Page(params=("page",)),
    "mobile_patrols:plan": Page("plan", ("pk", _pk)),
    "mobile_patrols:record": Page("patrol", ("pk", _pk)),
    "mobile_patrols:log": Page(params=("grid",)),
    "mobile_patrols:profile": Page(params=("period", "since", "until")),
    "mobile_patrols:profile_of": Page("user", ("username", lambda u: u.username), params=("period", "since", "until")),
    "mobile_patrols:report": Page("report", ("pk", _pk)),
    "mobile_patrols:report_print": Page("report", ("pk", _pk)),
    "mobile_patrols:report_xlsx": Page("report", ("pk", _pk), xlsx=True),
    "mobile_incentives:index": Page(params=("page",)),
    "mobile_incentives:rewards": Page(),
    "mobile_incentives:redeem": Page("reward", ("pk", _pk), viewer="leader"),
    "mobile_incentives:redemptions": Page(params=("page",)),
    "mobile_incentives:cancel": Page("redemption", ("pk", _pk), scope=OWN, viewer="leader"),
    "mobile_incentives:claims": Page(params=("page",)),
    "mobile_incentives:ranking": Page(params=("period", "by")),
    "public:report": Page("node", ("code", _code), scope=PUBLIC),
    "public:sent": Page("node", ("code", _code), scope=PUBLIC, kwargs={"token": "abc"}),
    "public:track_lookup": Page(scope=PUBLIC, params=("code",)),
    "public:track": Page("issue", ("code", lambda i: i.tracking_code), scope=PUBLIC),
    "public:announcements": Page("node", ("code", lambda n: n.get_ancestors().get(level=2).code
                                          if n.level > 2 else n.code), scope=PUBLIC, params=("page",)),
    "public:board_community": Page("node", ("code", lambda n: n.get_ancestors().get(level=2).code
                                            if n.level > 2 else n.code)),
    "public:board": Page("node", ("code", _code)),
}
PAGE_PREFIXES = ("m/", "r/", "track/", "announcements/", "boards/")


# --- routes from the resolver and the admin registry ------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    path: str  # the pattern, for messages
    kwargs: frozenset
    methods: frozenset  # lower-case HTTP methods it answers ("get", "post"; empty: a plain view)
    contract_key: str | None

    @property
    def reads(self):
        return not self.methods or "get" in self.methods

    @property
    def suffix(self):
        """The route's name after its contract's basename ("list", "detail", "stats"...)."""
        key = self.contract_key or ""
        return self.name[len(key) + 1:] if self.name.startswith(key + "-") else ""


def _walk(resolver, prefix="", namespace=None):
    for p in resolver.url_patterns:
        if isinstance(p, URLResolver):
            ns = namespace
            if p.namespace:
                ns = f"{namespace}:{p.namespace}" if namespace else p.namespace
            yield from _walk(p, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern) and p.name:
            yield prefix + str(p.pattern), (f"{namespace}:{p.name}" if namespace else p.name), p


def _kwargs_of(pattern):
    regex = pattern.pattern.regex
    return frozenset(regex.groupindex) | frozenset(getattr(pattern.pattern, "converters", {}))


def _api_key(name):
    """The contract of an API route: by its own name, else by the longest basename it starts with
    whose contract declares the route's suffix."""
    if name in API:
        return name
    for basename in sorted(API, key=len, reverse=True):
        if not name.startswith(basename + "-"):
            continue
        suffix = name[len(basename) + 1:]
        declared = ("list", "detail") + API[basename].actions
        if any(suffix == d or (d.endswith("*") and suffix.startswith(d[:-1])) for d in declared):
            return basename
    return None


@lru_cache(maxsize=1)
def api_routes():
    """Every API route once (format-suffix twins left out), with its contract key (None: missing)."""
    out = {}
    for path, name, p in _walk(get_resolver()):
        if not path.startswith("api/") or "format" in _kwargs_of(p) or name in out:
            continue
        actions = getattr(p.callback, "actions", None) or {}
        methods = frozenset(actions) if actions else frozenset()
        out[name] = Route(name, path, _kwargs_of(p) - {"format"}, methods, _api_key(name))
    return tuple(out.values())


@lru_cache(maxsize=1)
def page_routes():
    out = {}
    for path, name, p in _walk(get_resolver()):
        if path.startswith(PAGE_PREFIXES) and name not in out:
            out[name] = Route(name, path, _kwargs_of(p), frozenset(), name if name in PAGES else None)
    return tuple(out.values())


def admin_models():
    """{model label → (model, ModelAdmin)} of the admin registry."""
    return {m._meta.label_lower: (m, ma) for m, ma in admin.site._registry.items()}


def admin_extra_views(model, model_admin):
    """The URL names a ModelAdmin adds beyond the standard five."""
    info = f"{model._meta.app_label}_{model._meta.model_name}_"
    standard = {info + s for s in ADMIN_STANDARD}
    return [u.name for u in model_admin.get_urls() if u.name and u.name not in standard]


def missing_api():
    return [f"{r.name} ({r.path})" for r in api_routes() if r.contract_key is None]


def missing_admin():
    out = []
    for label, (model, ma) in admin_models().items():
        contract = ADMIN.get(label)
        if contract is None:
            out.append(f"{label} (admin)")
            continue
        out += [f"{label}: admin:{name}" for name in admin_extra_views(model, ma) if name not in contract.views]
    return out


def missing_pages():
    return [f"{r.name} ({r.path})" for r in page_routes() if r.contract_key is None]


def stale_contracts():
    """Contracts of routes or registers that are gone (a renamed route would otherwise lose its tests
    silently while the new name fails as missing)."""
    api = {r.name for r in api_routes()}
    stale = [f"API {key}" for key in API if key not in api and not any(n.startswith(key + "-") for n in api)]
    stale += [f"ADMIN {label}" for label in ADMIN if label not in admin_models()]
    stale += [f"ADMIN {label}: {name}" for label, contract in ADMIN.items() if label in admin_models()
              for name in contract.views if name not in admin_extra_views(*admin_models()[label])]
    pages = {r.name for r in page_routes()}
    return stale + [f"PAGES {name}" for name in PAGES if name not in pages]


# --- URLs -------------------------------------------------------------------------------------------


def api_url(route, pk=None):
    kwargs = {k: ROUTE_KWARGS[k] for k in route.kwargs if k != "pk"}
    if "pk" in route.kwargs:
        kwargs["pk"] = pk
    return reverse(route.name, kwargs=kwargs)


def with_bad(url, bad):
    """`url` with its PLACEHOLDER id replaced by a bad value (quoted: a NUL byte travels as %00)."""
    assert str(PLACEHOLDER) in url, url
    return url.replace(str(PLACEHOLDER), quote(bad, safe=""))


def admin_url(label, view, obj_id=None, **kwargs):
    """An admin URL: `view` is a standard suffix ("change") or an extra view's URL name."""
    app, model = label.split(".")
    name = f"{app}_{model}_{view}" if view in ADMIN_STANDARD else view
    if obj_id is None:
        return reverse(f"admin:{name}", kwargs=kwargs or None)
    if view in ADMIN_STANDARD:
        return reverse(f"admin:{name}", args=[obj_id])
    key = "id" if "id" in _admin_view_kwargs(label, name) else "object_id"
    return reverse(f"admin:{name}", kwargs={**kwargs, key: obj_id})


def _admin_view_kwargs(label, name):
    model, model_admin = admin_models()[label]
    for u in model_admin.get_urls():
        if u.name == name:
            return _kwargs_of(u)
    raise KeyError(name)


def page_url(route, obj=None, bad=None, where=None):
    """A page's URL showing `obj`; with `bad`, that value in URL keyword `where` (default: the one
    naming the object)."""
    contract = PAGES[route.name]
    kwargs = dict(contract.kwargs)
    if contract.arg is not None:
        name, how = contract.arg
        kwargs[name] = how(obj) if obj is not None else PLACEHOLDER
    if bad is None:
        return reverse(route.name, kwargs=kwargs or None)
    where = where or contract.arg[0]
    kwargs[where] = PLACEHOLDER
    return with_bad(reverse(route.name, kwargs=kwargs), bad)


# --- the documented query parameters ------------------------------------------------------------


@lru_cache(maxsize=1)
def schema_parameters():
    """{path regex: {parameter: is a date/month/period}} of the GET operations in the OpenAPI schema."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    out = {}
    for path, operations in schema["paths"].items():
        op = operations.get("get")
        if not op:
            continue
        params = {}
        for p in op.get("parameters", ()):
            if p.get("in") == "query":
                fmt = (p.get("schema") or {}).get("format", "")
                params[p["name"]] = fmt in ("date", "date-time") or p["name"] in DATE_NAMES
        regex = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"
        out[regex] = params
    return out


def api_parameters(route):
    """The query parameters of a GET route: the schema's, the filterset's and the paginator's."""
    url = api_url(route, PLACEHOLDER)
    params = {}
    for regex, found in schema_parameters().items():
        if re.match(regex, url):
            params.update(found)
    view = getattr(get_resolver().resolve(url).func, "cls", None)
    filterset = getattr(view, "filterset_class", None)
    if filterset is not None:
        for name, f in filterset.base_filters.items():
            params.setdefault(name, type(f).__name__.startswith(("Date", "Time")) or name in DATE_NAMES)
    return params


def bad_values(is_date):
    return BAD_IDS + BAD_DATES if is_date else BAD_IDS


# --- reading answers ----------------------------------------------------------------------------


def text_of(response):
    """The words of an answer: its body, or every cell of an Excel workbook."""
    if response.get("Content-Type", "").startswith(XLSX):
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(response.content), read_only=True)
        return "\n".join(" ".join("" if v is None else str(v) for v in row)
                         for ws in book.worksheets for row in ws.iter_rows(values_only=True))
    content = getattr(response, "content", b"")
    return content.decode("utf-8", "replace")


def sheet_sizes(response):
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(response.content), read_only=True)
    return {ws.title: sum(1 for _ in ws.iter_rows(values_only=True)) for ws in book.worksheets}


def leaked_marks(text, sides):
    return [s.mark for s in sides if s.mark in text]


def leaked_phones(text, secrets):
    return sorted(set(PHONE_RE.findall(text)) & set(secrets))


def secret_phones(viewer=None):
    """Every full phone that must not reach a user without the phone right: households', reporters'
    and people's private ones (the viewer's own excepted); public duty phones are public."""
    from django.contrib.auth import get_user_model

    from grid.models import Household
    from issues.models import Issue

    phones = set(Household.objects.values_list("phone", flat=True))
    phones |= set(Issue.objects.values_list("reporter_phone", flat=True))
    users = get_user_model().objects.all()
    if viewer is not None:
        users = users.exclude(pk=viewer.pk)
    phones |= set(users.values_list("phone", flat=True))
    return {p for p in phones if p and PHONE_RE.fullmatch(p)}


def api_pages(client, url, params=None, page_size=5, limit=40):
    """Every page of a paginated list, in short pages so that several are walked: (ids, count, texts);
    a non-paginated answer is one page."""
    ids, texts, count, page = [], [], None, 1
    while page <= limit:
        query = {**(params or {}), "page": page, "page_size": page_size}
        response = client.get(url, query, HTTP_ACCEPT="application/json")
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
        texts.append(text_of(response))
        body = response.json()
        if not (isinstance(body, dict) and "results" in body and "count" in body):
            return ids, None, texts
        count = body["count"]
        ids += [row.get("id") for row in body["results"] if isinstance(row, dict)]
        if not body.get("next"):
            break
        page += 1
    return ids, count, texts


def changelist_rows(response):
    return [obj.pk for obj in response.context["cl"].result_list]


def query_diff(fewer, more):
    """The queries of two runs side by side, for a budget that grew."""
    a, b = [q["sql"] for q in fewer.captured_queries], [q["sql"] for q in more.captured_queries]
    lines = [f"{len(a)} queries with fewer rows, {len(b)} with more:"]
    lines += ([f"  + {sql[:300]}" for sql in b if sql not in a] or [f"  {sql[:300]}" for sql in b])[:12]
    return "\n".join(lines)


@contextmanager
def count_queries():
    with CaptureQueriesContext(connection) as ctx:
        yield ctx


def explain(response):
    """A failing answer in a few lines: status, and the exception's last frame if the client kept it."""
    exc = getattr(response, "exc_info", None)
    if exc:
        import traceback

        frames = traceback.extract_tb(exc[2])
        last = frames[-1] if frames else None
        where = f" at {last.filename}:{last.lineno} in {last.name}" if last else ""
        return f"{response.status_code} {exc[0].__name__}: {exc[1]}{where}"
    return f"{response.status_code} {text_of(response)[:200]!r}"


class Failures:
    """Collects every failing request of one contract, so one run names them all."""

    def __init__(self):
        self.items = []

    def add(self, what, response=None):
        self.items.append(f"{what}: {explain(response)}" if response is not None else what)

    def check(self):
        assert not self.items, "\n".join([f"{len(self.items)} failure(s):"] + self.items)


def read(f, client, who, url, params=None, sides=(), secrets=(), **headers):
    """GET `url` as `who` and note in `f` a 500, a marker of any of `sides` (other communities) and
    any of `secrets` (full phones) in its words; returns the answer."""
    r = client.get(url, params or {}, **headers)
    where = f"{who}: GET {url}" + (f"?{params}" if params else "")
    if r.status_code >= 500:
        f.add(where, r)
        return r
    text = text_of(r)
    if leaked_marks(text, sides):
        f.add(f"{where} shows {leaked_marks(text, sides)} (another community or street)")
    if leaked_phones(text, secrets):
        f.add(f"{where} shows the full phone(s) {leaked_phones(text, secrets)}")
    return r


def outside_not_found(f, client, d, users, answers, allowed=(404,)):
    """Log in each of `users` and note in `f` every (url, answer) of `answers(side)`, for each side
    outside the user's scope, that is not a 404 (or `allowed`) or shows a marker of such a side."""
    for who in users:
        client.force_login(d.users[who])
        for side in d.outside[who]:
            for url, r in answers(side):
                if r.status_code not in allowed or leaked_marks(text_of(r), d.outside[who]):
                    f.add(f"{who}: {url} (community {side.key.upper()})", r)


def raising_client(client):
    """The test client keeps raising a view's exception; contracts want the answer (a 500) instead,
    with the exception kept on the response for the report."""
    client.raise_request_exception = False
    return client
