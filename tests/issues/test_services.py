import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from issues import services, signals
from issues.models import Issue, IssuePhoto, Notification, State, Supervision
from tests.factories import act, category, issue
from tests.issues.clock import make_overdue
from tests.support import image

pytestmark = pytest.mark.django_db


# As a form's file arrives without a type of its own.
RED = {"size": (20, 20), "colour": "red", "content_type": "text/plain"}


def unchanged(i):
    before = (i.state, i.version, i.events.count())
    i.refresh_from_db()
    return (i.state, i.version, i.events.count()) == before


class TestReport:
    def test_numbers_run_per_street_and_month(self, ledger):
        month = timezone.localtime().strftime("%Y%m")
        numbers = [issue(ledger.a.mg1).number for _ in range(3)]
        assert numbers[-1] == f"ST-{month}-00007"  # the ledger fixture reported four before
        assert len(set(numbers)) == 3

    def test_report_writes_scope_columns_event_and_tracking_code(self, ledger):
        i = issue(ledger.b.mg2, reporter_name="李大爷", reporter_phone="13700000000")
        assert (i.street, i.community, i.state) == (ledger.street, ledger.b.community, State.REPORTED)
        assert len(i.tracking_code) == 10 and not set(i.tracking_code) & set("01OIL")
        event = i.events.get()
        assert (event.action, event.from_state, event.to_state, event.actor) == ("report", "", State.REPORTED, None)
        assert i.title.startswith(f"{i.category.name}：")

    def test_issue_on_the_street_itself_has_no_community(self, ledger):
        i = issue(ledger.street, ledger.staff)
        assert i.community is None and i.street == ledger.street

    def test_outside_the_reporters_grid_is_refused(self, ledger):
        with pytest.raises(PermissionDenied):
            issue(ledger.b.mg1, ledger.a.leader)

    @pytest.mark.parametrize("kw,field", [
        ({"description": "  "}, "description"),
        ({"reporter_phone": "123"}, "reporter_phone"),
        ({"photos": [SimpleUploadedFile("x.png", b"not an image")]}, "photos"),
        ({"photos": [image("x.gif", fmt="GIF", **RED)]}, "photos"),
    ])
    def test_bad_input_stores_nothing(self, ledger, kw, field):
        before = (Issue.objects.count(), IssuePhoto.objects.count())
        with pytest.raises(ValidationError) as e:
            issue(ledger.a.mg1, **kw)
        assert field in e.value.message_dict
        assert (Issue.objects.count(), IssuePhoto.objects.count()) == before

    def test_only_residents_report_without_an_account(self, ledger):
        with pytest.raises(ValidationError) as e:
            issue(ledger.a.mg1, source="visit")
        assert "source" in e.value.message_dict

    def test_inactive_category_is_refused(self, ledger):
        cat = category("retired", active=False)
        with pytest.raises(ValidationError):
            issue(ledger.a.mg1, category=cat)

    def test_photos_are_stored_with_the_report(self, ledger, media):
        i = issue(ledger.a.mg1, ledger.a.leader, photos=[image("p.png", **RED), image("b.jpg", fmt="JPEG", **RED)])
        assert i.photos.count() == 2
        assert i.photos.first().event.action == "report"


class TestTransitions:
    def test_assign_computes_the_due_time_from_the_category(self, ledger):
        cat = category("fire", deadline=8, deadline_unit="hours")
        i = act(issue(ledger.a.mg1, ledger.a.leader, category=cat), "record", ledger.a.leader)
        i = act(i, "assign", ledger.a.secretary, handler_org=ledger.property.pk)
        from issues.calendar import due_after

        assert i.due_at == due_after(i.assigned_at, 8, "hours")
        assert i.events.last().data["handler_org"] == ledger.property.pk

    def test_long_extension_reason_is_a_field_error(self, ledger):
        with pytest.raises(ValidationError) as e:
            services.issue_transition(issue_id=ledger.handling.pk, action="request_extension", actor=ledger.worker,
                                      reason="等" * 501, until="2099-01-01")
        assert "reason" in e.value.message_dict

    @pytest.mark.parametrize("data,field", [
        ({}, "handler_org"),
        ({"handler_org": 99999}, "handler_org"),
        ({"handler_user": "nobody"}, "handler_user"),
        ({"handler_user": "leader_b", "due": "2001-01-01 10:00"}, "due"),
        ({"handler_org": "x", "due": "tomorrow"}, "due"),
    ])
    def test_assign_bad_fields(self, ledger, data, field):
        i = ledger.recorded
        with pytest.raises(ValidationError) as e:
            services.issue_transition(issue_id=i.pk, action="assign", actor=ledger.a.secretary, **data)
        assert field in e.value.message_dict
        assert unchanged(i)

    def test_assign_to_a_person_of_the_street(self, ledger):
        i = act(ledger.recorded, "assign", ledger.a.secretary, handler_user="leader_b")
        assert i.handler_user == ledger.b.leader
        assert services.is_handler(ledger.b.leader, i)

    def test_the_handler_cannot_verify_their_own_work(self, ledger):
        i = act(ledger.recorded, "assign", ledger.a.secretary, handler_user="secretary_a")
        i = act(i, "submit_done", ledger.a.secretary, note="done")
        with pytest.raises(ValidationError) as e:
            services.issue_transition(issue_id=i.pk, action="verify", actor=ledger.a.secretary)
        assert "actor" in e.value.message_dict
        assert act(i, "verify", ledger.staff).state == State.RESOLVED

    def test_return_from_handling_goes_back_and_clears_the_handler(self, ledger):
        i = act(ledger.handling, "return", ledger.worker, note="不是物业范围")
        assert i.state == State.RECORDED and i.handler_org is None and i.due_at is None

    def test_refer_analysis_needs_a_flag_and_keeps_it(self, ledger):
        with pytest.raises(ValidationError) as e:
            services.issue_transition(issue_id=ledger.handling.pk, action="refer_analysis", actor=ledger.a.leader, note="x")
        assert "common" in e.value.message_dict
        i = act(ledger.handling, "refer_analysis", ledger.a.leader, note="三个小区都有", difficult="true")
        assert (i.state, i.difficult, i.common) == (State.ANALYSIS, True, False)

    def test_disposal_assign_needs_a_plan(self, ledger):
        i = act(ledger.handling, "escalate", ledger.branch, note="协商不成")
        with pytest.raises(ValidationError) as e:
            services.issue_transition(issue_id=i.pk, action="assign", actor=ledger.a.secretary, handler_org=ledger.property.pk)
        assert "plan" in e.value.message_dict
        i = act(i, "assign", ledger.a.secretary, handler_org=ledger.property.pk, plan="党委牵头协调")
        assert (i.state, i.plan) == (State.HANDLING, "党委牵头协调")

    def test_unresolvable_needs_an_announcement_then_feedback_closes(self, ledger):
        i = act(ledger.handling, "escalate", ledger.branch, note="协商不成")
        with pytest.raises(ValidationError):
            services.issue_transition(issue_id=i.pk, action="declare_unresolvable", actor=ledger.a.secretary, announcement=" ")
        i = act(i, "declare_unresolvable", ledger.a.secretary, announcement="因规划调整，暂无法加装电梯")
        assert i.state == State.UNRESOLVABLE and i.announced_at is not None
        i = act(i, "give_feedback", ledger.a.leader, channel="notice", text="已张贴公告", satisfaction="basically")
        assert i.state == State.CLOSED and i.closed_at is not None

    def test_reopen_only_after_a_dissatisfied_feedback(self, ledger):
        i = act(ledger.reported, "resolve_on_spot", ledger.a.leader, note="修好了")
        i = act(i, "give_feedback", ledger.a.leader, channel="phone", text="电话回访", satisfaction="satisfied")
        with pytest.raises(ValidationError):
            services.issue_transition(issue_id=i.pk, action="reopen", actor=ledger.a.leader, note="x")
        j = act(issue(ledger.a.mg1, ledger.a.leader), "resolve_on_spot", ledger.a.leader, note="修好了")
        j = act(j, "give_feedback", ledger.a.leader, channel="visit", text="上门", satisfaction="dissatisfied")
        j = act(j, "reopen", ledger.a.leader, note="居民说还漏水")
        # Resolved on the spot, it never had a handler: back to recorded, to be assigned.
        assert (j.state, j.reopen_count, j.closed_at) == (State.RECORDED, 1, None)
        k = act(act(ledger.handling, "submit_done", ledger.worker, note="修好"), "verify", ledger.a.secretary)
        k = act(k, "give_feedback", ledger.a.leader, channel="visit", text="x", satisfaction="dissatisfied")
        k = act(k, "reopen", ledger.a.leader, note="没修好")
        assert (k.state, k.handler_org, k.supervision) == (State.HANDLING, ledger.property, Supervision.NONE)
        assert k.due_at > timezone.now()

    @pytest.mark.parametrize("feedback", [
        {"channel": "fax", "text": "x", "satisfaction": "satisfied"},
        {"channel": "visit", "text": "", "satisfaction": "satisfied"},
        {"channel": "visit", "text": "x", "satisfaction": "happy"},
    ])
    def test_feedback_fields(self, ledger, feedback):
        i = act(ledger.reported, "resolve_on_spot", ledger.a.leader, note="ok")
        with pytest.raises(ValidationError):
            services.issue_transition(issue_id=i.pk, action="give_feedback", actor=ledger.a.leader, **feedback)
        assert unchanged(i)

    def test_merge(self, ledger, english):
        dup = issue(ledger.a.mg1)
        i = act(dup, "merge", ledger.a.leader, into=ledger.recorded.pk)
        assert (i.state, i.merged_into) == (State.CLOSED, ledger.recorded)
        with pytest.raises(ValidationError) as e:
            services.issue_transition(issue_id=ledger.reported.pk, action="merge", actor=ledger.a.leader, into=dup.pk)
        assert "duplicate of" in str(e.value)
        for bad in (ledger.reported.pk, ledger.other.pk, "x"):  # itself, out of scope, nonsense
            with pytest.raises(ValidationError):
                services.issue_transition(issue_id=ledger.reported.pk, action="merge", actor=ledger.a.leader, into=bad)

    def test_extension_request_and_decisions(self, ledger):
        i = ledger.handling
        until = i.due_at + datetime.timedelta(days=5)
        with pytest.raises(ValidationError):  # not later than the current due time
            services.issue_transition(issue_id=i.pk, action="request_extension", actor=ledger.worker,
                                      reason="等配件", until=i.due_at - datetime.timedelta(hours=1))
        i = act(i, "request_extension", ledger.worker, reason="等配件", until=until.isoformat())
        assert i.extension_until == until
        with pytest.raises(ValidationError):  # one request at a time
            services.issue_transition(issue_id=i.pk, action="request_extension", actor=ledger.worker, reason="再等", until=until)
        i = act(i, "decide_extension", ledger.a.secretary, approve=True, note="同意")
        assert (i.due_at, i.extension_until, i.state) == (until, None, State.HANDLING)
        i = act(i, "request_extension", ledger.worker, reason="还要等", until=until + datetime.timedelta(days=5))
        i = act(i, "decide_extension", ledger.a.secretary, approve=False)
        assert (i.due_at, i.extension_until) == (until, None)
        with pytest.raises(ValidationError):  # nothing left to decide
            services.issue_transition(issue_id=i.pk, action="decide_extension", actor=ledger.a.secretary, approve=True)

    def test_version_conflict_changes_nothing(self, ledger):
        i = ledger.recorded
        with pytest.raises(services.IssueConflict):
            services.issue_transition(issue_id=i.pk, action="assign", actor=ledger.a.secretary,
                                      version=i.version - 1, handler_org=ledger.property.pk)
        assert unchanged(i)
        assert act(i, "assign", ledger.a.secretary, version=i.version, handler_org=ledger.property.pk).version == i.version + 1

    def test_outside_the_scope_is_not_found(self, ledger):
        with pytest.raises(Issue.DoesNotExist):
            services.issue_transition(issue_id=ledger.other.pk, action="assign", actor=ledger.a.secretary,
                                      handler_org=ledger.property.pk)

    def test_unknown_action_is_a_clear_error(self, ledger):
        with pytest.raises(ValidationError) as e:
            services.issue_transition(issue_id=ledger.recorded.pk, action="explode", actor=ledger.a.secretary)
        assert "action" in e.value.message_dict

    def test_allowed_actions_respect_the_issue_situation(self, ledger):
        i = act(ledger.reported, "resolve_on_spot", ledger.a.leader, note="ok")
        i = act(i, "give_feedback", ledger.a.leader, channel="visit", text="x", satisfaction="satisfied")
        assert "reopen" not in services.allowed_actions(ledger.a.leader, i)  # the resident was satisfied
        assert "decide_extension" not in services.allowed_actions(ledger.a.secretary, ledger.handling)
        h = act(ledger.handling, "request_extension", ledger.worker, reason="等", until="2099-01-01")
        assert "decide_extension" in services.allowed_actions(ledger.a.secretary, h)
        assert "request_extension" not in services.allowed_actions(ledger.worker, h)
        assert timezone.localtime(h.extension_until).strftime("%H:%M") == "17:30"  # a bare date: close of day

    def test_garbage_version_is_a_field_error(self, ledger):
        with pytest.raises(ValidationError) as e:
            services.issue_transition(issue_id=ledger.recorded.pk, action="record", actor=ledger.a.leader, version="v1")
        assert "version" in e.value.message_dict

    def test_allowed_actions(self, ledger):
        assert set(services.allowed_actions(ledger.a.secretary, ledger.recorded)) == {"assign", "return", "refer_analysis", "merge"}
        assert set(services.allowed_actions(ledger.worker, ledger.handling)) == {"submit_done", "return", "request_extension"}
        assert services.allowed_actions(ledger.worker, ledger.recorded) == []


class TestEvents:
    def test_events_are_append_only(self, ledger):
        event = ledger.recorded.events.first()
        event.note = "改写历史"
        with pytest.raises(ValueError):
            event.save()

    def test_signal_sent_on_commit(self, ledger, django_capture_on_commit_callbacks):
        received = []

        def handler(sender, **kw):
            received.append(kw)

        signals.issue_event.connect(handler)
        try:
            with django_capture_on_commit_callbacks(execute=True):
                act(ledger.recorded, "assign", ledger.a.secretary, handler_org=ledger.property.pk)
        finally:
            signals.issue_event.disconnect(handler)
        assert [(r["action"], r["to_state"]) for r in received] == [("assign", State.HANDLING)]


class TestSupervision:
    def overdue(self, ledger, days_late, span_days=4):
        make_overdue(ledger.handling, days_late, span_days)  # working days: passes on any day of the week

    def test_yellow_then_red_and_idempotent(self, ledger):
        self.overdue(ledger, days_late=1)
        assert services.issues_mark_overdue() == {"yellow_card": 1, "red_card": 0, "failed": 0}
        assert services.issues_mark_overdue() == {"yellow_card": 0, "red_card": 0, "failed": 0}
        i = Issue.objects.get(pk=ledger.handling.pk)
        assert i.supervision == Supervision.YELLOW
        self.overdue(ledger, days_late=3)  # past due + half of the 4-working-day span
        assert services.issues_mark_overdue() == {"yellow_card": 0, "red_card": 1, "failed": 0}
        assert services.issues_mark_overdue() == {"yellow_card": 0, "red_card": 0, "failed": 0}
        assert list(i.events.filter(action__endswith="_card").values_list("action", flat=True)) == ["yellow_card", "red_card"]

    def test_very_late_gets_both_cards_at_once(self, ledger):
        self.overdue(ledger, days_late=10)
        assert services.issues_mark_overdue() == {"yellow_card": 1, "red_card": 1, "failed": 0}
        assert Issue.objects.get(pk=ledger.handling.pk).supervision == Supervision.RED

    def test_not_yet_due_gets_nothing(self, ledger):
        assert services.issues_mark_overdue() == {"yellow_card": 0, "red_card": 0, "failed": 0}

    def test_a_card_cannot_be_given_by_a_person(self, ledger):
        self.overdue(ledger, days_late=1)
        with pytest.raises(PermissionDenied):
            services.issue_transition(issue_id=ledger.handling.pk, action="yellow_card", actor=ledger.staff)

    def test_card_notifies_handler_and_secretary(self, ledger, english):
        self.overdue(ledger, days_late=1)
        services.issues_mark_overdue()
        to = set(Notification.objects.filter(text__contains="overdue").values_list("recipient__username", flat=True))
        assert to == {"worker", "secretary_a"}

    def test_mark_overdue_query_count_is_per_card_not_per_issue(self, ledger, django_db_blocker):
        from django.db import connection

        with CaptureQueriesContext(connection) as none_due:
            services.issues_mark_overdue()
        assert len(none_due) <= 2


def test_description_length_is_checked(ledger):
    with pytest.raises(ValidationError) as e:
        issue(ledger.a.mg1, description="长" * 2001)
    assert "description" in e.value.message_dict


def test_photo_error_keeps_its_code(ledger, settings):
    settings.UPLOAD_MAX_PIXELS = 100
    with pytest.raises(ValidationError) as e:
        issue(ledger.a.mg1, photos=[image("p.png", **RED)])
    assert e.value.error_dict["photos"][0].code == "pixels"


def test_an_issue_with_duplicates_is_not_merged_away(ledger):
    dup = act(issue(ledger.a.mg1), "merge", ledger.a.leader, into=ledger.recorded.pk)
    assert dup.merged_into == ledger.recorded
    with pytest.raises(ValidationError) as e:
        services.issue_transition(issue_id=ledger.recorded.pk, action="merge", actor=ledger.a.leader, into=ledger.reported.pk)
    assert "into" in e.value.message_dict


def test_reopen_withdraws_the_announcement(ledger):
    i = act(ledger.handling, "escalate", ledger.branch, note="x")
    i = act(i, "declare_unresolvable", ledger.a.secretary, announcement="暂无法解决")
    i = act(i, "give_feedback", ledger.a.leader, channel="notice", text="公告", satisfaction="dissatisfied")
    from issues.selectors import announcements

    assert list(announcements(ledger.a.community)) == [i]
    i = act(i, "reopen", ledger.a.leader, note="重新协调")
    assert (i.announcement, i.announced_at) == ("", None)
    assert list(announcements(ledger.a.community)) == []
    assert i.events.filter(action="declare_unresolvable", data__announcement="暂无法解决").exists()


class TestReviewFindings:
    def test_impossible_date_is_a_field_error(self, ledger):
        with pytest.raises(ValidationError) as e:
            services.issue_transition(issue_id=ledger.recorded.pk, action="assign", actor=ledger.a.secretary,
                                      handler_org=ledger.property.pk, due="2027-02-30T10:00")
        assert "due" in e.value.message_dict

    def test_reassignment_drops_a_waiting_extension_request(self, ledger):
        i = act(ledger.handling, "request_extension", ledger.worker, reason="等", until="2099-01-01")
        i = act(i, "escalate", ledger.branch, note="协商不成")
        assert i.extension_until is None
        i = act(i, "assign", ledger.a.secretary, handler_org=ledger.property.pk, plan="方案")
        assert "decide_extension" not in services.allowed_actions(ledger.a.secretary, i)
        assert "request_extension" in services.allowed_actions(ledger.worker, i)

    def test_extension_until_must_be_in_the_future(self, ledger):
        Issue.objects.filter(pk=ledger.handling.pk).update(due_at=timezone.now() - datetime.timedelta(days=3))
        with pytest.raises(ValidationError) as e:
            services.issue_transition(issue_id=ledger.handling.pk, action="request_extension", actor=ledger.worker,
                                      reason="等", until=timezone.now() - datetime.timedelta(days=1))
        assert "until" in e.value.message_dict

    def test_a_merged_duplicate_cannot_be_reopened(self, ledger):
        i = act(issue(ledger.a.mg1, ledger.a.leader), "resolve_on_spot", ledger.a.leader, note="ok")
        i = act(i, "give_feedback", ledger.a.leader, channel="visit", text="x", satisfaction="dissatisfied")
        i = act(i, "reopen", ledger.a.leader, note="again")
        i = act(i, "merge", ledger.a.leader, into=ledger.recorded.pk)
        assert "reopen" not in services.allowed_actions(ledger.a.leader, i)

    def test_red_card_counts_working_hours(self, ledger, settings):
        from issues import calendar

        # Assigned Friday 16:00 with 8 working hours: due Monday 15:30; red half a deadline later.
        tz = timezone.get_current_timezone()
        assigned = datetime.datetime(2026, 11, 27, 16, 0, tzinfo=tz)
        due = calendar.due_after(assigned, 8, "hours")
        assert due == datetime.datetime(2026, 11, 30, 15, 30, tzinfo=tz)
        assert calendar.working_hours_between(assigned, due) == 8
        assert calendar.due_after(due, 8 * settings.RED_CARD_FACTOR, "hours") == datetime.datetime(2026, 12, 1, 11, 0, tzinfo=tz)

    def test_hotline_caller_hears_the_feedback(self, ledger, settings, django_capture_on_commit_callbacks):
        settings.SMS_GATEWAY_URL = "http://127.0.0.1:9/unused"
        i = issue(ledger.a.mg1, ledger.a.leader, source="hotline", reporter_phone="13900001111")
        i = act(i, "resolve_on_spot", ledger.a.leader, note="ok")
        act(i, "give_feedback", ledger.a.leader, channel="sms", text="已处理", satisfaction="satisfied")
        assert Notification.objects.filter(address="13900001111", channel="sms").exists()

    def test_no_gateway_no_resident_message(self, ledger, settings):
        settings.SMS_GATEWAY_URL = ""
        i = act(ledger.reported, "resolve_on_spot", ledger.a.leader, note="ok")
        act(i, "give_feedback", ledger.a.leader, channel="phone", text="已处理", satisfaction="satisfied")
        assert not Notification.objects.filter(address="13912340000").exists()


# --- stable error codes -----------------------------------------------------------------------


def codes(error):
    return {field: [e.code for e in errors] for field, errors in error.error_dict.items()}


def test_a_logged_in_reporter_may_not_use_the_resident_source(ledger):
    before = Issue.objects.count()
    with pytest.raises(ValidationError) as e:
        services.issue_report(actor=ledger.a.leader, grid=ledger.a.mg1, category=ledger.category,
                              description="楼道灯不亮", source="resident")
    assert codes(e.value) == {"source": ["source_not_allowed"]}
    assert Issue.objects.count() == before


def test_every_refusal_carries_a_code(ledger):
    from common.errors import Conflict, Denied

    with pytest.raises(ValidationError) as e:
        issue(ledger.a.mg1, description=" ", category=category("retired", active=False))
    assert codes(e.value) == {"category": ["category_inactive"], "description": ["description_required"]}
    with pytest.raises(Denied) as denied:
        issue(ledger.b.mg1, ledger.a.leader)
    assert denied.value.code == "outside_scope"
    with pytest.raises(Denied) as denied:
        services.issue_transition(issue_id=ledger.recorded.pk, action="assign", actor=ledger.a.leader,
                                  handler_org=ledger.property.pk)
    assert denied.value.code == "role_not_allowed"
    with pytest.raises(ValidationError) as e:
        services.issue_transition(issue_id=ledger.recorded.pk, action="verify", actor=ledger.a.secretary)
    assert codes(e.value) == {"action": ["wrong_state"]}
    with pytest.raises(ValidationError) as e:
        services.issue_transition(issue_id=ledger.recorded.pk, action="assign", actor=ledger.a.secretary,
                                  handler_user="nobody", due="tomorrow")
    assert codes(e.value) == {"handler_user": ["handler_not_in_street"], "due": ["invalid_datetime"]}
    with pytest.raises(Conflict) as conflict:
        services.issue_transition(issue_id=ledger.recorded.pk, action="assign", actor=ledger.a.secretary,
                                  version=ledger.recorded.version - 1, handler_org=ledger.property.pk)
    assert isinstance(conflict.value, services.IssueConflict) and conflict.value.code == "stale_version"


def test_typed_arguments_are_taken_as_they_come(ledger):
    # What the adapters hand over: an Organisation, a user, an aware datetime, an Issue.
    due = timezone.now() + datetime.timedelta(days=3)
    i = act(ledger.recorded, "assign", ledger.a.secretary, handler_org=ledger.property, handler_user=ledger.worker,
            due=due)
    assert (i.handler_org, i.handler_user, i.due_at) == (ledger.property, ledger.worker, due)
    dup = act(issue(ledger.a.mg1), "merge", ledger.a.leader, into=ledger.reported)
    assert dup.merged_into == ledger.reported


def test_parse_when_reads_what_people_type():
    tz = timezone.get_current_timezone()
    assert services.parse_when("2026-12-01", "due") == datetime.datetime(2026, 12, 1, 17, 30, tzinfo=tz)
    assert services.parse_when("2026-12-01T09:15", "due") == datetime.datetime(2026, 12, 1, 9, 15, tzinfo=tz)
    assert services.parse_when("", "due") is None
    for bad in ("later", "2027-02-30T10:00", "2026-12-01\x00"):
        with pytest.raises(ValidationError) as e:
            services.parse_when(bad, "until")
        assert codes(e.value) == {"until": ["invalid_datetime"]}


# --- supervision goes on past a failure -------------------------------------------------------


def test_mark_overdue_carries_on_after_one_issue_fails(ledger, monkeypatch):
    second = act(act(issue(ledger.a.mg2, ledger.a.secretary), "record", ledger.a.secretary), "assign",
                 ledger.a.secretary, handler_org=ledger.property.pk)
    for target in (ledger.handling, second):
        make_overdue(target, days_late=1)
    real = services.issue_transition

    def broken_for_the_first(**kw):
        if kw["issue_id"] == ledger.handling.pk:
            raise RuntimeError("a broken row")
        return real(**kw)

    monkeypatch.setattr(services, "issue_transition", broken_for_the_first)
    assert services.issues_mark_overdue() == {"yellow_card": 1, "red_card": 0, "failed": 1}
    assert Issue.objects.get(pk=second.pk).supervision == Supervision.YELLOW
    assert Issue.objects.get(pk=ledger.handling.pk).supervision == Supervision.NONE
    monkeypatch.setattr(services, "issue_transition", real)
    # The next round gives the card it could not give.
    assert services.issues_mark_overdue() == {"yellow_card": 1, "red_card": 0, "failed": 0}


# --- the outbox's retry -----------------------------------------------------------------------


def test_retry_needs_the_right_and_touches_only_failed_messages_in_sight(ledger):
    from django.contrib.auth.models import Permission

    from common.errors import Denied

    mine = Notification.objects.create(key="a", channel="console", address="x", text="t", status="failed",
                                       attempts=5, issue=ledger.recorded)
    theirs = Notification.objects.create(key="b", channel="console", address="y", text="t", status="failed",
                                         attempts=5, issue=ledger.other)
    sent = Notification.objects.create(key="c", channel="console", address="z", text="t", status="sent",
                                       attempts=1, issue=ledger.recorded)
    secretary = ledger.a.secretary
    with pytest.raises(Denied) as e:
        services.notifications_retry(actor=secretary, ids=[mine.pk])
    assert e.value.code == "retry_not_allowed"
    assert Notification.objects.get(pk=mine.pk).status == "failed"
    secretary.user_permissions.add(Permission.objects.get(codename="change_notification"))
    secretary = type(secretary).objects.get(pk=secretary.pk)
    done = services.notifications_retry(actor=secretary, ids=[mine.pk, theirs.pk, sent.pk, "abc"])
    assert done == {"sent": 1, "waiting": 0, "skipped": 1}
    assert Notification.objects.get(pk=mine.pk).status == "sent"
    assert Notification.objects.get(pk=theirs.pk).status == "failed"  # community B's: out of sight
