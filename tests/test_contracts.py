"""The contracts of every API route, admin register and mobile or public page (tests/contracts.py):
scope, bad ids and filter values, phone masking, query budget, and a contract for every route.

Speed: the two-street data (tests/contracts_data.py) is a shared fixture (tests.support): built once
for this module, as Django's TestCase.setUpTestData does, and handed to each test that asks for `d` as
its own copies; a test that adds rows (query budget, counts) adds them in its savepoint, rolled back
after it. The cases are parametrized by route name, so a failure names its route, and each case loops
over its users, objects and values and reports every failing request at once (`Failures`).
"""

import pytest
from django.contrib.auth import get_user_model

from tests import contracts as c
from tests import contracts_data as cd
from tests.support import shared_fixture

API_ROUTES = c.api_routes()
PAGE_ROUTES = c.page_routes()
ADMIN_LABELS = sorted(c.admin_models())
READERS = ("leader", "secretary", "staff")  # the users of community A (and its street) the contracts act as
ADMIN_USERS = ("secretary", "staff")  # leaders do not work in the admin
MASKED = ("leader", "secretary")  # without the phone right


def _ids(routes):
    return [r.name for r in routes]


def _api(route):
    if route.contract_key is None:
        pytest.fail(f"{route.name} ({route.path}) has no contract in tests/contracts.py API")
    return c.API[route.contract_key]


def _admin(label):
    if label not in c.ADMIN:
        pytest.fail(f"admin register {label} has no contract in tests/contracts.py ADMIN")
    return c.ADMIN[label]


def _page(route):
    if route.contract_key is None:
        pytest.fail(f"{route.name} ({route.path}) has no contract in tests/contracts.py PAGES")
    return c.PAGES[route.contract_key]


def _where(routes, test):
    """The routes a contract applies to; a route without a contract stays in, to fail by name."""
    return [r for r in routes if r.contract_key is None or test(r)]


@shared_fixture
def d():
    """The contract world (tests/contracts_data.py), the same in every test."""
    return cd.build()


@pytest.fixture
def client(client):
    return c.raising_client(client)


def call(client, route, url, **params):
    if route.methods and "get" not in route.methods:
        return client.post(url, data="{}", content_type="application/json", HTTP_ACCEPT="application/json")
    return client.get(url, params, HTTP_ACCEPT="application/json")


# --- completeness ---------------------------------------------------------------------------------


def test_every_api_route_has_a_contract():
    assert c.missing_api() == [], "API routes without a contract in tests/contracts.py API"


def test_every_admin_register_and_view_has_a_contract():
    assert c.missing_admin() == [], "admin registers or views without a contract in tests/contracts.py ADMIN"


def test_every_mobile_and_public_page_has_a_contract():
    assert c.missing_pages() == [], "pages without a contract in tests/contracts.py PAGES"


def test_no_contract_is_left_for_a_route_that_is_gone():
    assert c.stale_contracts() == [], "contracts in tests/contracts.py for routes or registers that no longer exist"


def test_the_contracts_are_generated_for_every_route():
    # The generator sees the routes it must: every family of the product, so a resolver walk that
    # silently found nothing would not pass the contracts vacuously.
    names = set(_ids(API_ROUTES))
    assert {"issue-list", "issue-detail", "issue-action-assign", "node-stats", "incentive-ranking-list"} <= names
    assert {"mobile_issues:detail", "public:board", "mobile_patrols:report_xlsx"} <= set(_ids(PAGE_ROUTES))
    assert {"grid.household", "issues.issue", "incentives.expenseclaim"} <= set(ADMIN_LABELS)


# --- API ------------------------------------------------------------------------------------------

API_OBJECT_ROUTES = _where(API_ROUTES, lambda r: (
    ("pk" in r.kwargs and _api(r).scope == c.SCOPED and _api(r).kind) or r.suffix in _api(r).query))
API_LIST_ROUTES = _where(API_ROUTES, lambda r: "pk" not in r.kwargs and r.reads and _api(r).scope in (c.SCOPED, c.OWN))
API_READ_ROUTES = _where(API_ROUTES, lambda r: r.reads)
API_BUDGET_ROUTES = _where(API_ROUTES, lambda r: r.reads and _api(r).growth(r.suffix))


def _api_read_url(d, route, contract, side=None):
    """The URL and query of a readable route showing side A's (or `side`'s) first object."""
    side = side or d.a
    pk = cd.pick(side, contract.kind)[0].pk if "pk" in route.kwargs else None
    params = {}
    if route.suffix in contract.query:
        name, value = contract.query[route.suffix]
        params[name] = value(side)
    return c.api_url(route, pk), params


def _shown(route, contract, side):
    """(url, query) for each of `side`'s objects on a route that shows one: by its id in the path, or
    by the query parameter the contract names (a leader's profile, a community's ranking)."""
    if route.suffix in contract.query:
        name, value = contract.query[route.suffix]
        return [(c.api_url(route), {name: value(side)})]
    objs = cd.pick(side, contract.kind)
    return [(c.api_url(route, o.pk), {}) for o in (objs if route.reads else objs[:1])]  # POSTs share the lookup


@pytest.mark.parametrize("route", API_OBJECT_ROUTES, ids=_ids(API_OBJECT_ROUTES))
def test_api_objects_outside_the_scope_answer_404(client, d, route):
    contract, f = _api(route), c.Failures()

    def answers(side):
        return [(f"{url} {params or ''}", call(client, route, url, **params))
                for url, params in _shown(route, contract, side)]

    c.outside_not_found(f, client, d, READERS, answers)
    if route.reads:  # the positive control: the street staff read community A's object
        client.force_login(d.staff)
        for url, params in _shown(route, contract, d.a):
            r = call(client, route, url, **params)
            if r.status_code != 200:
                f.add(f"staff: {url} {params or ''} (community A, in scope) should answer 200", r)
    f.check()


@pytest.mark.parametrize("route", API_LIST_ROUTES, ids=_ids(API_LIST_ROUTES))
def test_api_lists_hold_nothing_outside_the_scope(client, d, route):
    contract, f = _api(route), c.Failures()
    lists_kind = route.suffix == "list" and contract.kind
    for who in READERS:
        client.force_login(d.users[who])
        url, params = _api_read_url(d, route, contract)
        if route.suffix in contract.query:
            params = {}  # the user's own default (their community, themselves)
        ids, count, texts = c.api_pages(client, url, params)
        marks = sorted({m for t in texts for m in c.leaked_marks(t, d.outside[who])})
        if marks:
            f.add(f"{who}: GET {url} shows {marks}")
        if count is not None and count != len(ids):
            f.add(f"{who}: GET {url} counts {count} rows but lists {len(ids)}")
        if lists_kind:
            outside = {o.pk for s in d.outside[who] for o in cd.pick(s, contract.kind)}
            if outside & set(ids):
                f.add(f"{who}: GET {url} lists ids {sorted(outside & set(ids))} of another community or street")
    if lists_kind:  # the positive control
        client.force_login(d.staff)
        ids, _count, _texts = c.api_pages(client, c.api_url(route))
        inside = {o.pk for o in cd.pick(d.a, contract.kind)}
        if not inside <= set(ids):
            f.add(f"staff: GET {c.api_url(route)} misses community A's ids {sorted(inside - set(ids))}")
    f.check()


@pytest.mark.parametrize("route", _where(API_ROUTES, lambda r: "pk" in r.kwargs),
                         ids=_ids(_where(API_ROUTES, lambda r: "pk" in r.kwargs)))
def test_api_bad_ids_answer_404(client, d, route):
    f = c.Failures()
    client.force_login(d.staff)
    for bad in c.BAD_IDS + (str(c.PLACEHOLDER),):
        url = c.with_bad(c.api_url(route, c.PLACEHOLDER), bad) if bad != str(c.PLACEHOLDER) else c.api_url(route, bad)
        r = call(client, route, url)
        if r.status_code not in (400, 404):
            f.add(f"{route.name} {url!r}", r)
    f.check()


def _field_message(response, param):
    try:
        body = response.json()
    except ValueError:
        return False
    # DRF's search filter names no field for a NUL byte: its non-field message is the field's message.
    return isinstance(body, dict) and (param in body or (param == "search" and "non_field_errors" in body))


@pytest.mark.parametrize("route", API_READ_ROUTES, ids=_ids(API_READ_ROUTES))
def test_api_bad_filter_values_never_answer_500(client, d, route):
    contract, f = _api(route), c.Failures()
    client.force_login(d.a.secretary)  # a scoped user, and short lists
    url, base = _api_read_url(d, route, contract)
    for param, is_date in c.api_parameters(route).items():
        for value in c.bad_values(is_date):
            r = client.get(url, {**base, param: value}, HTTP_ACCEPT="application/json")
            if r.status_code == 400 and not _field_message(r, param):
                f.add(f"GET {url}?{param}={value!r}: 400 without a message on {param!r}", r)
            elif r.status_code not in (200, 400, 404):
                f.add(f"GET {url}?{param}={value!r}", r)
    f.check()


def _api_phone_probes(d, contract):
    real = {"phone": d.a.households[0].phone, "reporter_phone": d.a.issue.reporter_phone}
    fake = "19999999999"
    for name in contract.phones:
        phone = real[name]
        yield {"ordering": name}, {"ordering": f"-{name}"}
        yield {"search": phone}, {"search": fake}
        yield {name: phone}, {name: fake}
        yield {f"{name}__startswith": phone[:5]}, {f"{name}__startswith": fake[:5]}


@pytest.mark.parametrize("route", API_READ_ROUTES, ids=_ids(API_READ_ROUTES))
def test_api_phones_are_masked_without_the_right(client, d, route):
    contract, f = _api(route), c.Failures()
    for who in MASKED:
        user = d.users[who]
        client.force_login(user)
        secrets = c.secret_phones(user)
        urls = [_api_read_url(d, route, contract)]
        if "pk" in route.kwargs:
            urls = [(c.api_url(route, o.pk), {}) for o in cd.pick(d.a, contract.kind)]
        for url, params in urls:
            c.read(f, client, who, url, params, secrets=secrets, HTTP_ACCEPT="application/json")
        if route.suffix == "list":
            url = c.api_url(route)
            for probe, control in _api_phone_probes(d, contract):
                a, b = (client.get(url, q, HTTP_ACCEPT="application/json") for q in (probe, control))
                if a.status_code >= 500 or b.status_code >= 500:
                    f.add(f"{who}: GET {url}?{probe}", a if a.status_code >= 500 else b)
                elif a.status_code == b.status_code == 200:
                    order = [[row["id"] for row in x.json()["results"]] for x in (a, b)]
                    if order[0] != order[1]:
                        f.add(f"{who}: GET {url} answers {probe} and {control} differently: the phone leaks")
    f.check()


@pytest.mark.parametrize("route", API_BUDGET_ROUTES, ids=_ids(API_BUDGET_ROUTES))
def test_api_query_budget_does_not_grow_with_rows(client, d, route):
    contract = _api(route)
    kind, who = contract.growth(route.suffix)
    client.force_login(d.users[who])
    url, params = _api_read_url(d, route, contract)
    counts = []
    client.get(url, params, HTTP_ACCEPT="application/json")  # caches warm (content types, sessions)
    for n in (2, 17):  # at least 3 rows of the kind in scope, then at least 20
        cd.more(d, d.a, kind, n)
        with c.count_queries() as ctx:
            r = client.get(url, params, HTTP_ACCEPT="application/json")
        assert r.status_code == 200, c.explain(r)
        counts.append(ctx)
    assert len(counts[0]) == len(counts[1]), c.query_diff(counts[0], counts[1])


# --- admin ----------------------------------------------------------------------------------------


def _admin_scoped(label):
    contract = c.ADMIN.get(label)
    return contract is None or (contract.scope == c.SCOPED and contract.kind)


def _object_views(contract):
    """The admin views of one object: the standard three and the contract's object views."""
    yield "change", {}
    yield "history", {}
    yield "delete", {}
    for name, kind in contract.views.items():
        if isinstance(kind, tuple):
            yield name, kind[1]


@pytest.mark.parametrize("label", [x for x in ADMIN_LABELS if _admin_scoped(x)])
def test_admin_objects_outside_the_scope_answer_404(client, d, label):
    contract, f = _admin(label), c.Failures()
    for who in ADMIN_USERS:
        for view, kwargs in _object_views(contract):
            # The change page says 404; a view the user may not open at all (deleting a log line, a
            # register they do not read) may say 403 for every object alike, which tells nothing.
            client.force_login(d.users[who])
            inside = client.get(c.admin_url(label, view, cd.pick(d.a, contract.kind)[0].pk, **kwargs))
            allowed = {404, 403} if inside.status_code == 403 or view != "change" else {404}

            def answers(side, view=view, kwargs=kwargs):
                objs = cd.pick(side, contract.kind)
                urls = [c.admin_url(label, view, o.pk, **kwargs)
                        for o in (objs if view == "change" else objs[:1])]  # the other views share its lookup
                return [(url, client.get(url)) for url in urls]

            c.outside_not_found(f, client, d, [who], answers, allowed)
    client.force_login(d.staff)
    for obj in cd.pick(d.a, contract.kind):
        url = c.admin_url(label, "change", obj.pk)
        r = client.get(url)
        if r.status_code != 200:
            f.add(f"staff: GET {url} (community A, in scope) should answer 200", r)
    f.check()


def _list_views(contract):
    return [name for name, kind in contract.views.items() if kind in ("export", "page")]


@pytest.mark.parametrize("label", [x for x in ADMIN_LABELS if _admin_scoped(x)])
def test_admin_changelists_and_exports_hold_nothing_outside_the_scope(client, d, label):
    contract, f = _admin(label), c.Failures()
    for who in ADMIN_USERS:
        client.force_login(d.users[who])
        url = c.admin_url(label, "changelist")
        r = c.read(f, client, who, url, sides=d.outside[who])
        if r.status_code == 200:
            cl = r.context["cl"]
            rows = set(c.changelist_rows(r))
            outside = {o.pk for s in d.outside[who] for o in cd.pick(s, contract.kind)}
            if rows & outside:
                f.add(f"{who}: GET {url} lists ids {sorted(rows & outside)} of another community or street")
            if cl.result_count <= cl.list_per_page and cl.result_count != len(rows):
                f.add(f"{who}: GET {url} counts {cl.result_count} rows but lists {len(rows)}")
        elif r.status_code not in (403, 500):  # not theirs to read at all, or noted already
            f.add(f"{who}: GET {url}", r)
        # Exports and list pages, also when asked for another community by its id.
        for view in _list_views(contract):
            other = d.outside[who][0].community.pk
            for params in ({}, {"ancestor": other}, {"node": other}):
                c.read(f, client, who, c.admin_url(label, view), params, sides=d.outside[who])
    client.force_login(d.staff)
    r = client.get(c.admin_url(label, "changelist"))
    inside = {o.pk for o in cd.pick(d.a, contract.kind)}
    if r.status_code != 200 or not inside <= set(c.changelist_rows(r)):
        f.add(f"staff: the changelist of {label} should list community A's {sorted(inside)}", r)
    f.check()


def _admin_user(d, contract):
    return d.root if contract.budget_user == "root" else d.users[contract.budget_user]


def _as_scoped_admin(client, d, contract, url):
    """Log in the most limited admin user who opens `url` (community A's secretary, else the contract's
    budget user) and answer that first GET: a scoped user takes the scoped code paths, and a short
    changelist renders fast."""
    client.force_login(d.users["secretary"])
    r = client.get(url)
    if r.status_code == 403:
        client.force_login(_admin_user(d, contract))
        r = client.get(url)
    return r


@pytest.mark.parametrize("label", ADMIN_LABELS)
def test_admin_bad_ids_answer_404(client, d, label):
    contract, f = _admin(label), c.Failures()
    _as_scoped_admin(client, d, contract, c.admin_url(label, "changelist"))
    allowed = {404, 403} | ({302} if contract.missing == "redirect" else set())
    for view, kwargs in _object_views(contract):
        for bad in c.BAD_IDS:
            url = c.with_bad(c.admin_url(label, view, c.PLACEHOLDER, **kwargs), bad)
            r = client.get(url)
            if r.status_code not in allowed:
                f.add(f"GET {url!r}", r)
    f.check()


def _admin_parameters(model_admin, cl):
    """The changelist's query parameters: every list filter's, search, ordering, page."""
    params = {"q": False, "o": False, "p": False}
    for spec in cl.filter_specs:
        for name in spec.expected_parameters():
            params[name] = any(x in name for x in ("date", "__gte", "__lt", "month", "period", "time", "_at", "on"))
    if model_admin.date_hierarchy:
        for part in ("year", "month", "day"):
            params[f"{model_admin.date_hierarchy}__{part}"] = True
    return params


@pytest.mark.parametrize("label", ADMIN_LABELS)
def test_admin_bad_filter_values_never_answer_500(client, d, label):
    contract, f = _admin(label), c.Failures()
    model, model_admin = c.admin_models()[label]
    url = c.admin_url(label, "changelist")
    r = _as_scoped_admin(client, d, contract, url)
    assert r.status_code == 200, c.explain(r)
    for param, is_date in _admin_parameters(model_admin, r.context["cl"]).items():
        # The admin turns any `__isnull` value into a boolean before the database sees it: two values
        # (text, NUL) cover that path.
        values = ("abc", "\x00") if param.endswith("__isnull") else c.bad_values(is_date)
        for value in values:
            r = client.get(url, {param: value})
            bad = r.status_code not in (200, 302, 400) or (
                r.status_code == 302 and "e=1" not in r["Location"])
            if bad:
                f.add(f"GET {url}?{param}={value!r}", r)
    f.check()


def _admin_phone_probes(d, label, field):
    real = {"grid.household": d.a.households[0].phone, "issues.issue": d.a.reported.reporter_phone,
            "issues.notification": d.a.notification.address, "grid.user": d.a.leader.phone}[label]
    fake = "19999999999"
    yield {f"{field}__startswith": real[:5]}, {f"{field}__startswith": fake[:5]}
    yield {f"{field}__contains": real[3:8]}, {f"{field}__contains": fake[3:8]}
    yield {field: real}, {field: fake}
    yield {"q": real}, {"q": fake}


@pytest.mark.parametrize("label", ADMIN_LABELS)
def test_admin_phones_are_masked_without_the_right(client, d, label):
    contract, f = _admin(label), c.Failures()
    user = d.users["secretary"]
    client.force_login(user)
    secrets = c.secret_phones(user)
    urls = [c.admin_url(label, "changelist")] + [c.admin_url(label, view) for view in _list_views(contract)]
    if contract.kind and contract.scope == c.SCOPED:
        urls += [c.admin_url(label, "change", o.pk) for o in cd.pick(d.a, contract.kind)]
    for url in urls:
        c.read(f, client, "secretary", url, secrets=secrets)
    url = c.admin_url(label, "changelist")
    for field in contract.phones:
        for probe, control in _admin_phone_probes(d, label, field):
            a, b = client.get(url, probe), client.get(url, control)
            if a.status_code >= 500 or b.status_code >= 500:
                f.add(f"GET {url}?{probe}", a if a.status_code >= 500 else b)
            elif a.status_code == b.status_code == 200 and c.changelist_rows(a) != c.changelist_rows(b):
                f.add(f"GET {url}: {probe} and {control} list different rows: the phone leaks")
        r = client.get(url)
        if r.status_code == 200:
            columns = list(r.context["cl"].list_display)
            for i, name in enumerate(columns):
                if name in (field, f"masked_{field}"):
                    a, b = client.get(url, {"o": str(i)}), client.get(url, {"o": f"-{i}"})
                    if a.status_code >= 500:
                        f.add(f"GET {url}?o={i}", a)
                    elif a.status_code == b.status_code == 200 and c.changelist_rows(a) != c.changelist_rows(b):
                        f.add(f"GET {url}?o={i} (column {name}) sorts by the phone: the order reveals it")
    f.check()


@pytest.mark.parametrize("label", [x for x in ADMIN_LABELS if c.ADMIN.get(x) is None or c.ADMIN[x].kind])
def test_admin_query_budget_does_not_grow_with_rows(client, d, label):
    contract = _admin(label)
    client.force_login(_admin_user(d, contract))
    url = c.admin_url(label, "changelist")
    counts = []
    client.get(url)  # caches warm
    for n in (2, 17):
        cd.more(d, d.a, contract.kind, n)
        with c.count_queries() as ctx:
            r = client.get(url)
        assert r.status_code == 200, c.explain(r)
        counts.append(ctx)
    assert len(counts[0]) == len(counts[1]), c.query_diff(counts[0], counts[1])


# --- mobile and public pages -------------------------------------------------------------------------

PAGE_OBJECT_ROUTES = _where(PAGE_ROUTES, lambda r: _page(r).kind and _page(r).scope in (c.SCOPED, c.OWN))
PAGE_LIST_ROUTES = _where(PAGE_ROUTES, lambda r: not _page(r).kind and _page(r).scope in (c.SCOPED, c.OWN))


@pytest.mark.parametrize("route", PAGE_OBJECT_ROUTES, ids=_ids(PAGE_OBJECT_ROUTES))
def test_pages_of_objects_outside_the_scope_answer_404(client, d, route):
    contract, f = _page(route), c.Failures()

    def answers(side):
        return [(url, client.get(url)) for url in (c.page_url(route, o) for o in cd.pick(side, contract.kind))]

    c.outside_not_found(f, client, d, READERS, answers)
    client.force_login(d.users[contract.viewer])
    obj = cd.pick(d.a, contract.kind)[0]
    r = client.get(c.page_url(route, obj))
    if r.status_code in (404, 500):
        f.add(f"{contract.viewer}: GET {c.page_url(route, obj)} (community A, in scope) should open", r)
    f.check()


def _read_as(client, d, users, targets, sides=False, phones=False):
    """GET every (url, query) of `targets(who)` as each of `users`, noting 500s and, as asked, the
    markers of the communities outside their scope and full phones they may not read."""
    f = c.Failures()
    for who in users:
        user = d.users[who]
        client.force_login(user)
        for url, params in targets(who):
            c.read(f, client, who, url, params, sides=d.outside[who] if sides else (),
                   secrets=c.secret_phones(user) if phones else ())
    f.check()


@pytest.mark.parametrize("route", PAGE_LIST_ROUTES, ids=_ids(PAGE_LIST_ROUTES))
def test_pages_of_lists_show_nothing_outside_the_scope(client, d, route):
    contract = _page(route)

    def targets(who):  # the page, and the page asked for a micro-grid of another community
        other = [{"grid": d.outside[who][0].mg1.pk}] if "grid" in contract.params else []
        return [(c.page_url(route), params) for params in [{}] + other]

    _read_as(client, d, READERS, targets, sides=True)


def _page_date(param):
    return param in c.DATE_NAMES


@pytest.mark.parametrize("route", PAGE_ROUTES, ids=_ids(PAGE_ROUTES))
def test_pages_bad_ids_and_values_never_answer_500(client, d, route):
    contract, f = _page(route), c.Failures()
    client.force_login(d.users[contract.viewer if contract.scope == c.OWN else "leader"])
    obj = cd.pick(d.a, contract.kind)[0] if contract.kind else None
    for where in route.kwargs:  # the object's id or code, and the other URL keywords
        # A bad object is not found; a bad other keyword (an action's name) may also send a GET back.
        allowed = (400, 404) if contract.arg and where == contract.arg[0] else (302, 400, 404)
        for bad in c.BAD_IDS:
            url = c.page_url(route, obj, bad=bad, where=where)
            r = client.get(url)
            if r.status_code not in allowed:
                f.add(f"GET {url!r}", r)
    url = c.page_url(route, cd.pick(d.a, contract.kind)[0]) if contract.kind else c.page_url(route)
    for param in contract.params:
        for value in c.bad_values(_page_date(param)):
            r = client.get(url, {param: value})
            if r.status_code not in (200, 302, 400, 404, 405):
                f.add(f"GET {url}?{param}={value!r}", r)
    f.check()


@pytest.mark.parametrize("route", PAGE_ROUTES, ids=_ids(PAGE_ROUTES))
def test_pages_show_no_full_phone_without_the_right(client, d, route):
    contract = _page(route)
    objs = cd.pick(d.a, contract.kind) if contract.kind else [None]
    _read_as(client, d, MASKED, lambda who: [(c.page_url(route, obj), {}) for obj in objs], phones=True)


# --- counts ---------------------------------------------------------------------------------------


def _snapshot(client, d, who):
    """What a user's counts and aggregates say: every API list's count, every aggregate answer (stats,
    reports, rankings, profiles) and the size of every admin export."""
    user = d.users[who]
    client.force_login(user)
    out = {}
    for route in API_ROUTES:
        contract = c.API.get(route.contract_key)
        if contract is None or not route.reads or route.suffix == "detail" or contract.scope == c.PUBLIC:
            continue
        if "pk" in route.kwargs and not contract.kind:
            continue
        if "pk" in route.kwargs:
            targets = [(c.api_url(route, o.pk), {}) for o in cd.pick(d.a, contract.kind)]
        else:
            url, params = _api_read_url(d, route, contract)
            targets = [(url, {} if route.suffix in contract.query else params)]
        for url, params in targets:
            r = client.get(url, params, HTTP_ACCEPT="application/json")
            body = r.json() if r.status_code == 200 else r.status_code
            if isinstance(body, dict) and "count" in body and "results" in body:
                body = body["count"]
            out[f"GET {url}"] = body
    if who in ADMIN_USERS:  # changelists count their rows: the scope contract holds them to what they list
        for label in (x for x in ADMIN_LABELS if x in c.ADMIN):
            for view in _list_views(c.ADMIN[label]):
                url = c.admin_url(label, view)
                r = client.get(url)
                if r.get("Content-Type", "").startswith(c.XLSX):
                    out[f"GET {url}"] = c.sheet_sizes(r)
    return out


def test_rows_outside_the_scope_change_no_count(client, d):
    """Rows added in another street (and, for community A's people, in community B) change no count,
    no aggregate and no export of theirs."""
    scoped = sorted(set(cd.PICKS) - set(cd.SHARED_KINDS))
    before = {who: _snapshot(client, d, who) for who in READERS}
    for kind in scoped:
        cd.more(d, d.x, kind)
    changed = []
    after = _snapshot(client, d, "staff")
    changed += [f"staff: {k}: {before['staff'][k]} → {after.get(k)}" for k in before["staff"]
                if before["staff"][k] != after.get(k)]
    for kind in scoped:
        cd.more(d, d.b, kind)
    for who in ("leader", "secretary"):
        after = _snapshot(client, d, who)
        changed += [f"{who}: {k}: {before[who][k]} → {after.get(k)}" for k in before[who]
                    if before[who][k] != after.get(k)]
    assert not changed, "\n".join(changed)


def test_masked_users_lack_the_phone_right_and_the_staff_has_it(d):
    # The premise of the masking contracts.
    for who in MASKED:
        assert not get_user_model().objects.get(pk=d.users[who].pk).has_perm("grid.view_full_phone")
    assert get_user_model().objects.get(pk=d.staff.pk).has_perm("grid.view_full_phone")
