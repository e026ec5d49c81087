"""The monthly report's numbers against a hand-built ledger: every common and difficult problem is
found, and nothing else."""

import datetime

import pytest
from django.utils import timezone

from grid.models import Kind, Level
from issues.models import Issue, State, Supervision
from patrols import services
from patrols.models import MonthlyReport, PlanState
from tests.factories import act, category, issue, node, plan
from tests.support import shared_fixture

MONTH = "2026-10"


def at(day, hour=10):
    return timezone.make_aware(datetime.datetime.fromisoformat(f"{day} {hour:02d}:00"))


def dated(obj, day):
    Issue.objects.filter(pk=obj.pk).update(reported_at=at(day))
    obj.refresh_from_db()
    return obj


@shared_fixture
def month_of_work(ledger):
    """Community A in October 2026, and a little of B, with the issues each rule must (not) catch."""
    w = ledger
    a = w.a
    a.mg3 = node(a.compound, level=Level.MICROGRID, kind=Kind.RESIDENTIAL, name="微网格A3", code="CA-G3")
    for n in (a.mg1, a.mg2):
        n.refresh_from_db()
    sanitation, facilities, repair = category("sanitation"), category("facilities"), category("property_repair")
    sec = a.secretary
    r = {}
    # Common, spread: sanitation in three micro-grids of A in October (the third one found on patrol).
    r["san1"] = dated(issue(a.mg1, sec, category=sanitation), "2026-10-03")
    r["san2"] = dated(issue(a.mg2, sec, category=sanitation), "2026-10-12")
    r["san3"] = dated(act(issue(a.mg3, sec, category=sanitation, source="patrol"), "resolve_on_spot", sec,
                          note="当场清理"), "2026-10-20")
    # Not common: facilities in two micro-grids only; a duplicate in a third does not count.
    r["fac1"] = dated(issue(a.mg1, sec, category=facilities), "2026-10-05")
    r["fac2"] = dated(issue(a.mg2, sec, category=facilities), "2026-10-06")
    r["fac_dup"] = dated(act(issue(a.mg3, sec, category=facilities), "merge", sec, into=r["fac1"].pk), "2026-10-07")
    # Common, repeat: property repair three times at mg1 within August–October …
    r["rep_aug"] = dated(issue(a.mg1, sec, category=repair), "2026-08-02")
    r["rep_sep"] = dated(issue(a.mg1, sec, category=repair), "2026-09-09")
    r["rep_oct"] = dated(act(issue(a.mg1, sec, category=repair, source="patrol"), "resolve_on_spot", sec,
                             note="已修"), "2026-10-15")
    # … but not at mg2, whose first one (July) lies outside the three months.
    r["rep2_jul"] = dated(issue(a.mg2, sec, category=repair), "2026-07-20")
    r["rep2_sep"] = dated(issue(a.mg2, sec, category=repair), "2026-09-21")
    r["rep2_oct"] = dated(issue(a.mg2, sec, category=repair), "2026-10-21")
    # Patrol findings in October: one handling and overdue with a red card, one only recorded.
    r["overdue"] = act(act(issue(a.mg3, sec, category=category("property_service"), source="patrol"), "record", sec), "assign", sec,
                       handler_org=w.property.pk)
    Issue.objects.filter(pk=r["overdue"].pk).update(reported_at=at("2026-10-08"), due_at=at("2026-10-15"),
                                                    supervision=Supervision.RED)
    r["recorded"] = dated(act(issue(a.mg3, sec, category=category("road_lighting"), source="patrol"), "record", sec),
                          "2026-10-25")
    # A September patrol finding still open is carried over into October's open list.
    r["carried"] = dated(act(issue(a.mg1, sec, category=facilities, source="patrol"), "record", sec), "2026-09-28")
    # Difficult: reopened, escalated (in joint analysis), stale (open since July), flagged difficult.
    # (Each in a category of its own, so that none of them makes a common problem.)
    reopened = act(issue(a.mg2, sec, category=category("noise")), "resolve_on_spot", sec, note="处理")
    reopened = act(act(reopened, "give_feedback", sec, channel="visit", text="回访", satisfaction="dissatisfied"),
                   "reopen", sec, note="居民不满意")
    r["reopened"] = dated(reopened, "2026-10-02")
    r["escalated"] = dated(act(act(issue(a.mg1, sec, category=category("neighbour_dispute")), "record", sec), "refer_analysis", sec,
                               note="产权不清", common=True), "2026-10-09")
    r["stale"] = dated(act(issue(a.mg3, sec, category=facilities), "record", sec), "2026-07-30")
    r["flagged"] = dated(issue(a.mg3, sec, category=category("greening")), "2026-10-26")
    Issue.objects.filter(pk=r["flagged"].pk).update(difficult=True)
    # Not difficult: old but closed; old but resolved (waits only for feedback); November's (after the month).
    old_closed = act(act(issue(a.mg1, sec, category=facilities), "resolve_on_spot", sec, note="好了"),
                     "give_feedback", sec, channel="visit", text="回访", satisfaction="satisfied")
    dated(old_closed, "2026-06-01")
    dated(act(issue(a.mg2, sec, category=facilities), "resolve_on_spot", sec, note="好了"), "2026-06-02")
    r["november"] = dated(issue(a.mg1, sec, category=repair), "2026-11-02")
    # Community B: sanitation in one micro-grid, a patrol finding; outside A's report, inside the street's.
    r["b_patrol"] = dated(act(issue(w.b.mg1, w.b.secretary, category=sanitation, source="patrol"), "record",
                              w.b.secretary), "2026-10-10")
    # The ledger fixture's own issues (reported now, in November) stay out of October.
    w.r = r
    return w


def numbers(rows):
    return sorted(row["number"] for row in rows)


def test_the_community_report_finds_exactly_the_common_and_difficult_problems(month_of_work):
    w, r = month_of_work, month_of_work.r
    report = services.report_generate(node=w.a.community, month=MONTH)
    data = report.data

    h = data["handling"]
    assert h["found"] == 4  # san3, rep_oct, overdue, recorded
    assert h["by_state"][State.RESOLVED] == 2 and h["by_state"][State.HANDLING] == 1 and h["by_state"][State.RECORDED] == 1
    assert sum(h["by_state"].values()) == 4
    assert {c["name"]: c["count"] for c in h["by_category"]} == {"环境卫生": 1, "物业维修": 1, "物业服务": 1, "道路照明": 1}
    assert h["solved_on_spot"] == 2
    # Open: the month's open findings and September's carried-over one (resolved ones wait for feedback).
    open_numbers = {r[k].number for k in ("san3", "rep_oct", "overdue", "recorded", "carried")}
    assert set(numbers(h["open"])) == open_numbers
    assert numbers(h["overdue"]) == [r["overdue"].number]
    overdue = h["overdue"][0]
    assert overdue["supervision"] == Supervision.RED and overdue["handler"] == w.property.name
    assert overdue["due_at"].startswith("2026-10-15")

    common = data["analysis"]["common"]
    spread = [c for c in common if c["rule"] == "spread"]
    repeat = [c for c in common if c["rule"] == "repeat"]
    assert [(c["category_name"], c["microgrids"], c["issues"]) for c in spread] == [("环境卫生", 3, 3)]
    assert [(c["category_name"], c["grid"], c["issues"]) for c in repeat] == [("物业维修", "微网格A1", 3)]

    difficult = {row["number"]: row["reasons"] for row in data["analysis"]["difficult"]}
    assert difficult == {
        r["overdue"].number: ["red_card"],
        r["reopened"].number: ["reopened"],
        r["escalated"].number: ["escalated"],
        r["stale"].number: ["stale"],
        r["flagged"].number: ["flagged"],
        # Reported and never handled for more than 60 days at the month's end: stale too.
        r["rep_aug"].number: ["stale"],
        r["rep2_jul"].number: ["stale"],
    }


def test_the_street_roll_up_adds_the_communities_and_lists_them(month_of_work):
    w, r = month_of_work, month_of_work.r
    data = services.report_generate(node=w.street, month=MONTH).data
    assert data["handling"]["found"] == 5
    assert r["b_patrol"].number in numbers(data["handling"]["open"])
    lines = {c["name"]: c for c in data["communities"]}
    assert lines["社区A"]["found"] == 4 and lines["社区B"]["found"] == 1
    assert lines["社区A"]["difficult"] == 7 and lines["社区B"]["difficult"] == 0
    assert lines["社区A"]["common"] == 2 and lines["社区B"]["common"] == 0
    assert lines["社区A"]["overdue"] == 1 and lines["社区B"]["open"] == 1


def test_thresholds_are_settings(month_of_work, settings):
    settings.PATROL_COMMON_MICROGRIDS = 4
    settings.PATROL_COMMON_REPEATS = 2
    settings.PATROL_DIFFICULT_DAYS = 200
    data = services.report_generate(node=month_of_work.a.community, month=MONTH).data
    rules = sorted((c["rule"], c["grid"] if c["rule"] == "repeat" else "") for c in data["analysis"]["common"])
    assert ("spread", "") not in rules
    assert ("repeat", "微网格A1") in rules and ("repeat", "微网格A2") in rules
    assert "stale" not in {reason for row in data["analysis"]["difficult"] for reason in row["reasons"]}
    assert data["thresholds"]["microgrids"] == 4


def test_plans_of_the_month_are_counted(month_of_work):
    w = month_of_work
    done = plan(w.a.compound, month=MONTH)
    done.state = PlanState.DONE
    done.save()
    missed = plan(w.a.community, month=MONTH)
    missed.state = PlanState.MISSED
    missed.save()
    plan(w.b.compound, month=MONTH)
    data = services.report_generate(node=w.a.community, month=MONTH).data
    assert data["patrols"] == {"plans": 2, "planned": 0, "done": 1, "missed": 1}


def test_regenerating_replaces_the_report(month_of_work):
    w = month_of_work
    first = services.report_generate(node=w.a.community, month=MONTH)
    act(Issue.objects.get(pk=w.r["recorded"].pk), "assign", w.a.secretary, handler_org=w.property.pk)
    second = services.report_generate(node=w.a.community, month=MONTH)
    assert second.pk == first.pk and MonthlyReport.objects.filter(node=w.a.community, month=MONTH).count() == 1
    assert second.data["handling"]["by_state"][State.HANDLING] == 2
    assert second.generated_at > first.generated_at


def test_reports_are_made_for_communities_and_streets_only(world):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as e:
        services.report_generate(node=world.a.compound, month=MONTH)
    assert "node" in e.value.message_dict
    with pytest.raises(ValidationError) as e:
        services.reports_generate(month="2026-13")
    assert "month" in e.value.message_dict
    assert services.reports_generate(month=MONTH) == {"month": MONTH, "reports": 3}


def test_the_report_takes_a_fixed_number_of_queries(month_of_work, django_assert_max_num_queries):
    with django_assert_max_num_queries(25):
        services.report_generate(node=month_of_work.street, month=MONTH)


# --- reading a stored report back ---------------------------------------------------------------


def test_the_snapshot_reads_back_what_was_stored(month_of_work):
    from patrols.report import snapshot

    w = month_of_work
    rep = services.report_generate(node=w.street, month=MONTH)
    snap = snapshot(rep)
    data = rep.data
    # What the API answers is what was stored, row for row.
    assert [r.as_data() for r in snap.open] == data["handling"]["open"]
    assert [r.as_data() for r in snap.difficult] == data["analysis"]["difficult"]
    assert [r.as_data() for r in snap.common] == data["analysis"]["common"]
    assert [c.as_data() for c in snap.communities] == data["communities"]
    assert snap.by_state == data["handling"]["by_state"] and snap.patrols.as_data() == data["patrols"]
    # Typed: times are aware datetimes, labels come with the rows.
    overdue = next(r for r in snap.overdue if r.id == w.r["overdue"].pk)
    assert overdue.due_at == Issue.objects.get(pk=w.r["overdue"].pk).due_at
    assert str(overdue.supervision_label) == str(Supervision.RED.label)
    difficult = {r.id: r for r in snap.difficult}
    assert "stale" in difficult[w.r["stale"].pk].reasons and difficult[w.r["stale"].pk].reason_labels
    assert snap.summary()["overdue"] == len(data["handling"]["overdue"]) and snap.is_roll_up


def test_an_older_or_damaged_snapshot_reads_as_empty_not_as_an_error(world):
    from patrols.report import snapshot

    rep = MonthlyReport.objects.create(node=world.a.community, street=world.street, community=world.a.community,
                                       month=MONTH, data={"handling": {"open": [{"id": 7, "due_at": "soon"}]}})
    snap = snapshot(rep)
    assert (snap.found, snap.solved_on_spot, snap.common, snap.difficult, snap.communities) == (0, 0, (), (), None)
    assert snap.open[0].id == 7 and snap.open[0].due_at is None and snap.open[0].number == ""
    assert set(snap.by_state) == set(State.values) and not any(snap.by_state.values())
    assert snap.patrols.plans == 0 and snap.states() == [] and not snap.is_roll_up
    MonthlyReport.objects.filter(pk=rep.pk).update(data=[])
    rep.refresh_from_db()
    assert snapshot(rep).summary() == dict.fromkeys(
        ("found", "solved_on_spot", "open", "overdue", "common", "difficult", "plans", "done", "missed"), 0)
