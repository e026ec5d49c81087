"""The residents' pages (issues/public.py) and the printable notice boards (issues/boards.py)."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from grid.models import Kind, Level, Post, Role
from issues import boards
from issues.models import Issue, IssueEvent, IssuePhoto, State
from issues.public import client_ip
from issues.public_forms import ReportForm
from tests.factories import RoleFactory, UserFactory, act, category, issue, node
from tests.support import PHONE, fits, image, log_in, watch

PUBLIC_PHONE = "13600001111"  # RoleFactory's public phone
PRIVATE_PHONE = "13800005678"  # UserFactory's private phone


pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture(autouse=True)
def _relative_links(settings):
    settings.PUBLIC_BASE_URL = ""


@pytest.fixture
def client():
    # English pages: the assertions on wording do not depend on the state of the zh-hans catalogue.
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def report_url(code):
    return reverse("public:report", args=[code])


def good_data(**over):
    data = {
        "category": category().pk,
        "description": "3栋2单元楼道灯坏了一周",
        "name": "李大爷",
        "phone": "13922223333",
        "website": "",
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def post(client, code="CA-G1", ip="10.0.0.1", **over):
    return client.post(report_url(code), good_data(**over), REMOTE_ADDR=ip)


def html(response):
    return response.content.decode()


# --- the report page --------------------------------------------------------------------------


def test_report_page_shows_the_leaders_public_phone_and_never_the_private_one(client, world):
    world.a.leader.name = "张微网"
    world.a.leader.save()
    response = client.get(report_url("CA-G1"))
    page = html(response)
    assert response.status_code == 200
    assert "张微网" in page
    assert PUBLIC_PHONE in page
    assert f'href="tel:{PUBLIC_PHONE}"' in page
    assert PRIVATE_PHONE not in page
    # the path above the micro-grid, street first
    assert re.search(r"测试街道 › 社区A › 小区A › 1栋 › 1单元", page)
    assert "微网格A1" in page


def test_report_form_offers_the_camera_and_active_categories_only(client, world):
    category("noise_x", name="噪声X")
    category("retired", name="已停用类别", active=False)
    page = html(client.get(report_url("CA-G1")))
    assert 'enctype="multipart/form-data"' in page
    assert re.search(r'<input[^>]*type="file"[^>]*accept="image/\*"[^>]*capture="environment"', page) or \
        re.search(r'<input[^>]*accept="image/\*"[^>]*capture="environment"[^>]*type="file"', page)
    assert "噪声X" in page
    assert "已停用类别" not in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert re.search(r'<div class="hp" aria-hidden="true">.*name="website"', page, re.S)


def test_a_vacant_microgrid_says_so_and_still_takes_reports(client, world):
    response = client.get(report_url("CA-G2"))
    assert response.status_code == 200
    assert response.context["vacant"] is True
    assert "has no leader at present" in html(response)
    assert PUBLIC_PHONE not in html(response)


def test_the_leaders_private_phone_is_not_a_fallback_for_a_missing_public_one(client, world):
    world.a.leader_role.public_phone = ""
    world.a.leader_role.save()
    page = html(client.get(report_url("CA-G1")))
    assert PRIVATE_PHONE not in page
    assert "tel:" not in page


@pytest.mark.parametrize("code", ["ST", "CA", "CA-R1", "CA-R1-B1", "CA-R1-B1-U1", "NOPE"])
def test_only_microgrids_have_a_report_page(client, world, code):
    assert client.get(report_url(code)).status_code == 404
    assert post(client, code=code).status_code == 404
    assert not Issue.objects.exists()


def test_a_good_report_creates_one_issue_and_answers_its_tracking_link(client, world):
    response = post(client, photo=image(size=(20, 20), colour="white"))
    assert response.status_code == 302
    issue_obj = Issue.objects.get()
    assert (issue_obj.source, issue_obj.state, issue_obj.grid) == ("resident", State.REPORTED, world.a.mg1)
    assert (issue_obj.reporter_name, issue_obj.reporter_phone, issue_obj.reporter) == ("李大爷", "13922223333", None)
    assert issue_obj.description == "3栋2单元楼道灯坏了一周"
    assert issue_obj.community == world.a.community
    assert IssuePhoto.objects.filter(issue=issue_obj).count() == 1
    assert IssueEvent.objects.filter(issue=issue_obj).count() == 1
    # Post/redirect/get: the answer is a page of its own that a reload does not post again.
    sent = client.get(response["Location"])
    assert sent.status_code == 200
    track = reverse("public:track", args=[issue_obj.tracking_code])
    assert issue_obj.tracking_code in html(sent)
    assert f'href="{track}"' in html(sent)
    assert f"http://testserver{track}" in html(sent)
    assert client.get(track).status_code == 200


def test_name_phone_and_photo_are_optional(client, world):
    response = post(client, name="", phone="")
    assert response.status_code == 302
    assert Issue.objects.get().reporter_phone == ""
    assert not IssuePhoto.objects.exists()


def test_a_phone_typed_with_spaces_is_accepted(client, world):
    assert post(client, phone="139 2222 3333").status_code == 302
    assert Issue.objects.get().reporter_phone == "13922223333"


def test_the_sent_page_only_shows_codes_this_server_signed(client, world):
    url = post(client)["Location"]
    assert client.get(url).status_code == 200
    forged = url.replace("/sent/", "/sent/x")
    assert client.get(forged).status_code == 404
    other_node = url.replace("/r/CA-G1/", "/r/CA-G2/")
    assert client.get(other_node).status_code == 404


def test_csrf_is_enforced_and_works_as_a_normal_form(world):
    browser = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    assert browser.post(report_url("CA-G1"), good_data()).status_code == 403
    assert not Issue.objects.exists()
    page = html(browser.get(report_url("CA-G1")))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = browser.post(report_url("CA-G1"), good_data(csrfmiddlewaretoken=token))
    assert response.status_code == 302
    assert Issue.objects.count() == 1


def test_the_honeypot_answers_like_a_success_and_stores_nothing(client, world):
    response = post(client, website="http://spam.example", photo=image(size=(20, 20), colour="white"))
    assert response.status_code == 302
    assert "/sent/" in response["Location"]
    sent = client.get(response["Location"])
    assert sent.status_code == 200
    fake = sent.context["tracking_code"]
    assert len(fake) == 10
    assert not Issue.objects.exists()
    assert not IssuePhoto.objects.exists()
    assert client.get(reverse("public:track", args=[fake])).status_code == 404


@pytest.mark.parametrize("over,field", [
    ({"description": ""}, "description"),
    ({"description": "   \n "}, "description"),
    ({"description": "x" * 2001}, "description"),
    ({"phone": "12345"}, "phone"),
    ({"phone": "1391234567a"}, "phone"),
    ({"category": None}, "category"),
    ({"category": "999999"}, "category"),
    ({"name": "名" * 51}, "name"),
])
def test_bad_input_stores_nothing_and_shows_the_field_error(client, world, over, field):
    response = post(client, **over)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert list(response.context["form"].errors) == [field]
    assert not Issue.objects.exists()
    page = html(response)
    assert f'id="id_{field}_errors"' in page
    assert "nothing has been sent yet" in page
    # what was typed is kept
    assert "3栋2单元楼道灯坏了一周" in page or field == "description"


def test_a_photo_must_be_chosen_again_after_a_correction(client, world):
    page = html(post(client, description="", photo=image(size=(20, 20), colour="white")))
    assert "Choose the photo again" in page
    assert not IssuePhoto.objects.exists()
    assert "Choose the photo again" not in html(post(client, description=""))


def test_the_resident_pages_are_not_kept_by_browser_caches(client, ledger):
    for url in (report_url("CA-G1"), reverse("public:track", args=[ledger.reported.tracking_code])):
        assert "no-store" in client.get(url)["Cache-Control"]


def test_a_retired_category_is_refused(client, world):
    retired = category("retired", name="已停用", active=False)
    response = post(client, category=retired.pk)
    assert "category" in response.context["form"].errors
    assert not Issue.objects.exists()


def test_the_phone_error_is_translated(world):
    zh = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    response = post(zh, phone="12345")
    assert "请输入 11 位手机号码" in html(response)
    assert not Issue.objects.exists()


def _photo_cases():
    return [
        ("gif", lambda s: image("a.gif", size=(20, 20), fmt="GIF", colour="white"), "type"),
        ("not an image", lambda s: SimpleUploadedFile("a.jpg", b"%PDF-1.4 not an image", content_type="image/jpeg"), "type"),
        ("oversized", lambda s: (setattr(s, "UPLOAD_MAX_BYTES", 100), image(size=(64, 64), colour="white"))[1],
         "size"),
        ("too many pixels",
         lambda s: (setattr(s, "UPLOAD_MAX_PIXELS", 50 * 50), image(size=(60, 60), colour="white"))[1], "pixels"),
    ]


@pytest.mark.parametrize("name,make,code", _photo_cases(), ids=[c[0] for c in _photo_cases()])
def test_a_bad_photo_is_refused_with_a_clear_message(client, world, settings, name, make, code):
    response = post(client, photo=make(settings))
    assert response.status_code == 200
    errors = response.context["form"].errors.as_data()
    assert list(errors) == ["photo"]
    assert errors["photo"][0].code == code
    assert 'id="id_photo_errors"' in html(response)
    assert not Issue.objects.exists()
    assert not IssuePhoto.objects.exists()


def test_service_errors_land_on_the_fields_they_concern(world):
    form = ReportForm(data=good_data())
    assert form.is_valid()
    form.add_service_errors(ValidationError({
        "photos": ["bad photo"], "reporter_phone": ["bad phone"], "description": ["empty"], "source": ["odd"],
    }))
    assert form.errors["photo"] == ["bad photo"]
    assert form.errors["phone"] == ["bad phone"]
    assert form.errors["description"] == ["empty"]
    assert form.errors["__all__"] == ["odd"]


# --- rate limits ------------------------------------------------------------------------------


def test_reports_are_limited_per_ip(client, world, settings):
    settings.RESIDENT_REPORTS_PER_IP_PER_HOUR = 2
    settings.RESIDENT_REPORTS_PER_NODE_PER_HOUR = 100
    assert post(client, ip="10.0.0.1").status_code == 302
    assert post(client, ip="10.0.0.1", code="CA-G2").status_code == 302
    over = post(client, ip="10.0.0.1", photo=image(size=(20, 20), colour="white"))
    assert over.status_code == 429
    assert "Please wait a little" in html(over)
    assert PUBLIC_PHONE in html(over)  # whom to call when it is urgent
    assert int(over["Retry-After"]) <= 3600
    assert Issue.objects.count() == 2
    assert not IssuePhoto.objects.exists()
    # another address is not held back
    assert post(client, ip="10.0.0.2").status_code == 302
    assert Issue.objects.count() == 3


def test_reports_are_limited_per_microgrid(client, world, settings):
    settings.RESIDENT_REPORTS_PER_IP_PER_HOUR = 100
    settings.RESIDENT_REPORTS_PER_NODE_PER_HOUR = 2
    assert post(client, ip="10.0.0.1").status_code == 302
    assert post(client, ip="10.0.0.2").status_code == 302
    assert post(client, ip="10.0.0.3").status_code == 429
    assert Issue.objects.filter(grid=world.a.mg1).count() == 2
    # another micro-grid is not held back
    assert post(client, ip="10.0.0.3", code="CA-G2").status_code == 302
    assert Issue.objects.count() == 3


def test_x_forwarded_for_does_not_escape_the_limit(client, world, settings):
    settings.RESIDENT_REPORTS_PER_IP_PER_HOUR = 1
    data = good_data()
    assert client.post(report_url("CA-G1"), data, REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="1.1.1.1").status_code == 302
    assert client.post(report_url("CA-G1"), data, REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="2.2.2.2").status_code == 429
    assert Issue.objects.count() == 1


def test_mistakes_do_not_use_up_the_quota_but_the_honeypot_does(client, world, settings):
    settings.RESIDENT_REPORTS_PER_IP_PER_HOUR = 2
    for _ in range(3):
        assert post(client, description="").status_code == 200
    assert post(client, website="spam").status_code == 302
    assert post(client).status_code == 302
    assert post(client).status_code == 429
    assert Issue.objects.count() == 1


def test_ipv6_clients_are_counted_per_64():
    class R:
        def __init__(self, addr):
            self.META = {"REMOTE_ADDR": addr}

    assert client_ip(R("2408:8207:1:2:aaaa::1")) == client_ip(R("2408:8207:1:2:bbbb::9")) == "2408:8207:1:2::/64"
    assert client_ip(R("2408:8207:1:3::1")) != client_ip(R("2408:8207:1:2::1"))
    assert client_ip(R("::ffff:10.1.2.3")) == "10.1.2.3"
    assert client_ip(R("10.1.2.3")) == "10.1.2.3"


# --- tracking ---------------------------------------------------------------------------------


def track(client, issue_obj):
    return client.get(reverse("public:track", args=[issue_obj.tracking_code]))


def test_tracking_shows_its_own_issue_only_and_no_personal_data(client, ledger):
    w = ledger
    w.a.leader.name = "张微网"
    w.a.leader.save()
    w.a.secretary.name = "李书记"
    w.a.secretary.save()
    mine = issue(w.a.mg1, reporter_name="王阿姨", reporter_phone="13912340000", description="我家楼下井盖丢失")
    mine = act(mine, "record", w.a.leader, note="内部备注：业主电话13712345678")
    mine = act(mine, "assign", w.a.secretary, handler_org=w.property.pk, note="交给物业")
    response = track(client, mine)
    page = html(response)
    assert response.status_code == 200
    assert mine.number in page
    assert "handling" in page  # the state's human label
    for other in (w.reported, w.recorded, w.handling, w.other):
        assert other.number not in page
        assert other.title not in page
        assert other.tracking_code not in page
    for secret in ("王阿姨", "13912340000", "我家楼下井盖丢失", mine.title, "内部备注", "13712345678", "交给物业",
                   "张微网", "李书记", w.property.name, PUBLIC_PHONE, PRIVATE_PHONE):
        assert secret not in page, secret
    labels = [e["label"] for e in response.context["progress"]["timeline"]]
    assert [str(label) for label in labels] == ["Reported", "Recorded in the ledger", "Assigned for handling"]


def test_tracking_codes_are_read_case_blind_and_unknown_ones_are_404(client, ledger):
    code = ledger.reported.tracking_code
    assert client.get(reverse("public:track", args=[code.lower()])).status_code == 200
    assert client.get(reverse("public:track", args=["ZZZZZZZZZZ"])).status_code == 404


def test_the_lookup_form_leads_to_the_tracking_page(client, ledger):
    code = ledger.reported.tracking_code
    response = client.get(reverse("public:track_lookup"), {"code": f" {code.lower()} "})
    assert response.status_code == 302
    assert response["Location"] == reverse("public:track", args=[code])
    unknown = client.get(reverse("public:track_lookup"), {"code": "ZZZZZZZZZZ"})
    assert unknown.status_code == 404
    assert "No report has this tracking code" in html(unknown)


def test_tracking_shows_the_feedback(client, ledger):
    w = ledger
    done = act(w.reported, "resolve_on_spot", w.a.leader, note="当场修好了")
    before = html(track(client, done))
    assert "已联系物业更换门禁" not in before
    done = act(done, "give_feedback", w.a.leader, channel="phone", text="已联系物业更换门禁，请您查看", satisfaction="satisfied")
    response = track(client, done)
    page = html(response)
    assert "已联系物业更换门禁，请您查看" in page
    assert "phone call" in page
    assert "closed" in page
    assert "当场修好了" not in page  # the leader's note is internal
    assert response.context["progress"]["feedback"]["text"] == "已联系物业更换门禁，请您查看"


def _unresolvable(w, grid_issue, text):
    i = act(grid_issue, "refer_analysis", w.a.leader if grid_issue.community == w.a.community else w.b.leader,
            note="共性问题", common=True)
    secretary = w.a.secretary if grid_issue.community == w.a.community else w.b.secretary
    i = act(i, "escalate", secretary, note="提交社区党委")
    return act(i, "declare_unresolvable", secretary, announcement=text)


def test_tracking_shows_the_announcement(client, ledger):
    w = ledger
    assert "小区外道路属市政规划" not in html(track(client, w.recorded))
    i = _unresolvable(w, w.recorded, "小区外道路属市政规划，暂无法改造")
    page = html(track(client, i))
    assert "小区外道路属市政规划，暂无法改造" in page
    assert "unresolvable" in page
    assert "提交社区党委" not in page


def test_a_merged_report_shows_the_other_issues_progress(client, ledger):
    w = ledger
    dup = issue(w.a.mg1, reporter_name="赵女士", reporter_phone="13555556666", description="门禁又坏了")
    act(dup, "merge", w.a.leader, into=w.handling.pk)
    dup.refresh_from_db()
    act(w.handling, "submit_done", w.worker, note="已更换")
    response = track(client, dup)
    page = html(response)
    assert response.status_code == 200
    assert dup.number in page
    assert w.handling.number in page  # the issue it now follows
    merged = response.context["merged"]
    assert [m["number"] for m in merged] == [w.handling.number]
    assert str(merged[0]["timeline"][-1]["label"]) == "Work done, waiting for a check"
    assert "Merged with a report of the same problem" in page
    for secret in (w.handling.title, w.handling.tracking_code, "已更换", "赵女士", "13555556666", w.property.name):
        assert secret not in page, secret
    # The issue it was merged into does not show the duplicate back.
    assert dup.number not in html(track(client, w.handling))


def test_supervision_and_extensions_stay_off_the_public_timeline(client, ledger):
    w = ledger
    act(w.handling, "request_extension", w.worker, reason="材料未到", until="2099-01-01")
    labels = [str(e["label"]) for e in track(client, w.handling).context["progress"]["timeline"]]
    assert labels == ["Reported", "Recorded in the ledger", "Assigned for handling"]
    assert "材料未到" not in html(track(client, w.handling))


# --- announcements ----------------------------------------------------------------------------


def test_announcements_are_listed_per_community(client, ledger):
    w = ledger
    a = _unresolvable(w, w.recorded, "A社区：规划限制，无法加装电梯")
    b = _unresolvable(w, w.other, "B社区：产权不清，无法维修")
    response = client.get(reverse("public:announcements", args=["CA"]))
    page = html(response)
    assert response.status_code == 200
    assert "A社区：规划限制，无法加装电梯" in page
    assert a.number in page
    assert a.category.name in page
    assert "B社区：产权不清" not in page
    assert b.number not in page
    assert w.handling.number not in page  # not announced
    assert a.title not in page
    page_b = html(client.get(reverse("public:announcements", args=["CB"])))
    assert "B社区：产权不清，无法维修" in page_b
    assert "A社区" not in page_b


@pytest.mark.parametrize("code", ["ST", "CA-G1", "CA-R1", "NOPE"])
def test_announcements_exist_for_communities_only(client, world, code):
    assert client.get(reverse("public:announcements", args=[code])).status_code == 404


def test_the_report_page_links_to_its_communitys_announcements(client, world):
    page = html(client.get(report_url("CB-G1")))
    assert f'href="{reverse("public:announcements", args=["CB"])}"' in page


# --- notice boards ----------------------------------------------------------------------------


def board_url(code):
    return reverse("public:board", args=[code])


def community_boards_url(code):
    return reverse("public:board_community", args=[code])


@pytest.mark.parametrize("url", [board_url("CA-G1"), community_boards_url("CA")])
def test_boards_need_a_login(client, world, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mobile:login"))


def test_a_board_outside_the_scope_is_404(client, world):
    client.force_login(world.a.leader)
    assert client.get(board_url("CA-G1")).status_code == 200
    assert client.get(board_url("CB-G1")).status_code == 404
    client.force_login(world.a.secretary)
    assert client.get(community_boards_url("CA")).status_code == 200
    assert client.get(community_boards_url("CB")).status_code == 404
    assert client.get(board_url("CB-G2")).status_code == 404


def test_only_microgrids_and_communities_have_boards(client, world):
    client.force_login(world.staff)
    assert client.get(board_url("CA")).status_code == 404
    assert client.get(community_boards_url("CA-G1")).status_code == 404
    assert client.get(community_boards_url("ST")).status_code == 404


def test_a_board_shows_leader_phone_path_and_the_qr_of_the_report_page(client, world, monkeypatch):
    world.a.leader.name = "张微网"
    world.a.leader.save()
    encoded = []
    real_make = boards.segno.make
    monkeypatch.setattr(boards.segno, "make", lambda content, **kw: encoded.append(content) or real_make(content, **kw))
    client.force_login(world.a.leader)
    response = client.get(board_url("CA-G1"))
    page = html(response)
    assert response.status_code == 200
    assert "张微网" in page
    assert PUBLIC_PHONE in page
    assert PRIVATE_PHONE not in page
    assert "测试街道 › 社区A › 小区A › 1栋 › 1单元" in page
    assert 'class="photo-box"' in page
    url = "http://testserver/r/CA-G1/"
    assert encoded == [url]
    assert response.context["boards"][0]["report_url"] == url
    assert str(boards.qr_svg(url)) in page  # the very SVG of that URL, inline
    assert str(boards.qr_svg("http://testserver/r/CA-G2/")) not in page
    assert re.search(r"<svg[^>]*class=\"qr\"", page)
    assert "<script src" not in page and "http://" not in page.replace(url, "").replace("http://www.w3.org", "")


def test_the_qr_uses_the_public_base_url_when_set(client, world, settings):
    settings.PUBLIC_BASE_URL = "https://wg.jinyuan.example.cn/"
    client.force_login(world.staff)
    response = client.get(board_url("CA-G1"))
    url = "https://wg.jinyuan.example.cn/r/CA-G1/"
    assert response.context["boards"][0]["report_url"] == url
    assert str(boards.qr_svg(url)) in html(response)
    assert url in html(response)


def test_a_vacant_microgrids_board_says_so(client, world):
    client.force_login(world.staff)
    response = client.get(board_url("CA-G2"))
    assert response.context["boards"][0]["vacant"] is True
    assert "Vacant: this micro-grid has no leader at present." in html(response)
    assert PUBLIC_PHONE not in html(response)


def _community_boards(client):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(community_boards_url("CA"))
    assert response.status_code == 200
    return response, len(queries)


def test_batch_print_has_one_page_per_microgrid_and_a_constant_query_budget(client, world):
    client.force_login(world.staff)
    response, few = _community_boards(client)
    assert [b["node"].code for b in response.context["boards"]] == ["CA-G1", "CA-G2"]
    for i in range(4):
        mg = node(world.a.compound, level=Level.MICROGRID, kind=Kind.RESIDENTIAL, name=f"新微网格{i}", code=f"CA-N{i}")
        if i % 2 == 0:
            RoleFactory(node=mg, role=Role.LEADER, post=Post.A, public_phone=f"1360000222{i}",
                        user=UserFactory(username=f"new_leader_{i}", name=f"新网格长{i}"))
    response, many = _community_boards(client)
    page = html(response)
    assert many == few
    assert len(response.context["boards"]) == 6
    assert page.count('<article class="board">') == 6
    assert page.count("<svg") == 6
    for i in range(4):
        assert f"新微网格{i}" in page
    assert "新网格长0" in page and "13600002220" in page
    assert "CB-G1" not in page  # the other community's


def test_the_print_css_puts_one_board_per_a4_page():
    from django.contrib.staticfiles import finders

    css = open(finders.find("issues/public.css"), encoding="utf-8").read()
    assert re.search(r"@page\s*{\s*size:\s*A4", css)
    print_block = css[css.index("@media print"):]
    assert "break-after: page" in print_block
    assert "http" not in css.replace("http://www.w3.org", "")


def test_public_pages_render_in_chinese_too(world):
    zh = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    response = zh.get(report_url("CA-G1"))
    assert response.status_code == 200
    assert '<html lang="zh-hans">' in html(response)


# --- in a real browser ------------------------------------------------------------------------



@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_resident_reports_with_a_photo_from_a_phone(live_server, world, chromium, tmp_path):
    origin = live_server.url
    cat = category()
    context = chromium.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    foreign, failed = watch(page, origin)
    photo = tmp_path / "lamp.jpg"
    photo.write_bytes(image("lamp.jpg", fmt="JPEG", colour="gray").read())

    page.goto(f"{origin}{report_url('CA-G1')}")
    assert PUBLIC_PHONE in page.content()
    assert fits(page)
    box = page.locator("input[name=website]").bounding_box()
    assert box["x"] + box["width"] <= 0  # the honeypot is out of sight
    page.select_option("#id_category", str(cat.pk))
    page.fill("#id_description", "楼道灯坏了")
    page.fill("#id_phone", "139 2222 3333")
    page.set_input_files("#id_photo", str(photo))
    page.click("button[type=submit].primary")  # a real POST, with the browser's Origin and CSRF cookie
    page.locator(".code").wait_for()
    issue_obj = Issue.objects.get()
    assert page.locator(".code").inner_text().strip() == issue_obj.tracking_code
    assert issue_obj.reporter_phone == "13922223333"
    assert issue_obj.photos.count() == 1
    assert fits(page)

    page.click("a.track-link")
    page.wait_for_url(f"{origin}{reverse('public:track', args=[issue_obj.tracking_code])}")
    assert issue_obj.number in page.content()
    assert "13922223333" not in page.content()
    assert fits(page)
    assert foreign == [], "the pages loaded something from outside the site"
    assert failed == []
    context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_batch_print_is_one_a4_page_per_microgrid(live_server, world, chromium):
    origin = live_server.url
    context = chromium.new_context(viewport={"width": 1000, "height": 1400}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    foreign, failed = watch(page, origin)
    log_in(page, origin, "staff")
    page.goto(f"{origin}{community_boards_url('CA')}")
    assert page.locator("article.board svg.qr").count() == 2
    pdf = page.pdf(format="A4", prefer_css_page_size=True, print_background=True)
    # The page tree's total: one sheet per micro-grid, no empty sheet between or after.
    assert max(int(n) for n in re.findall(rb"/Count (\d+)", pdf)) == 2
    assert foreign == []
    assert failed == []
    context.close()
