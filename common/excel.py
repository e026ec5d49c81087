"""The one Excel writer and reader of the product (.xlsx through openpyxl).

Every string is written as text, never as a formula: a resident's name typed as `=HYPERLINK(…)`,
or anything starting with `=`, `+`, `-`, `@`, a tab or a carriage return, comes out as the
characters typed. Imports read formulas as their text too (never a cached result)."""

from dataclasses import dataclass, field
from decimal import Decimal
from io import BytesIO

from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override
from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell

MAX_ROWS = 200_000
LANGS = ("zh-hans", "en")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MONEY_FORMAT = "#,##0.00"


@dataclass
class Column:
    key: str
    label: object  # a lazy translation
    required: bool = True
    choices: type | None = None  # a Django Choices class: cells may hold the value or a label

    def labels(self):
        out = set()
        for lang in LANGS:
            with override(lang):
                out.add(str(self.label))
        return out

    def parse_choice(self, raw):
        text = str(raw).strip()
        for value, label in self.choices.choices:
            if text == str(value):
                return value
            for lang in LANGS:
                with override(lang):
                    if text == str(label):
                        return value
        raise ValueError(_("'%s' is not one of the allowed values.") % text)

    def show_choice(self, value):
        return str(self.choices(value).label) if value not in ("", None) else ""

    def show(self, row):
        value = row.get(self.key, "") if isinstance(row, dict) else row[self.key]
        return self.show_choice(value) if self.choices is not None else value


def text_cell(ws, value, number_format=None):
    """A write-only cell; a string is always text (openpyxl would make `=…` a formula)."""
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str):
        cell.data_type = "s"
    elif number_format and isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        cell.number_format = number_format
    return cell


class Book:
    """A write-only workbook of one or more sheets: `Book().sheet(title, headers, rows).bytes()`."""

    def __init__(self):
        self.wb = Workbook(write_only=True)

    def sheet(self, title, headers, rows, money_from=None):
        """`headers`: labels or Columns; `rows`: lists of values, or dicts when headers are Columns.
        Columns from index `money_from` on are yuan with two decimals."""
        ws = self.wb.create_sheet(title=str(title)[:31])
        ws.append([text_cell(ws, str(getattr(h, "label", h))) for h in headers])
        columns = headers if headers and isinstance(headers[0], Column) else None
        for row in rows:
            values = [c.show(row) for c in columns] if columns else list(row)
            ws.append([
                text_cell(ws, v, MONEY_FORMAT if money_from is not None and i >= money_from else None)
                for i, v in enumerate(values)
            ])
        return self

    def bytes(self):
        out = BytesIO()
        self.wb.save(out)
        return out.getvalue()


def write_sheet(title, columns, rows):
    """An .xlsx as bytes: a header of labels in the current language, then one row per dict."""
    return Book().sheet(title, columns, rows).bytes()


def xlsx_response(data, stem):
    """A download of workbook bytes named `<stem>-<today>.xlsx` (stem of ASCII codes, no quotes)."""
    response = HttpResponse(data, content_type=XLSX)
    safe = "".join(ch for ch in str(stem) if ch.isascii() and (ch.isalnum() or ch in "-_.")) or "export"
    response["Content-Disposition"] = f'attachment; filename="{safe}-{timezone.localdate():%Y%m%d}.xlsx"'
    return response


# --- reading ------------------------------------------------------------------------------------


@dataclass
class RowError:
    row: int
    column: str
    reason: str

    def __str__(self):
        return _("row %(row)s, column %(column)s: %(reason)s") % {
            "row": self.row, "column": self.column, "reason": self.reason,
        }


class ImportFailed(Exception):
    def __init__(self, errors):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors[:20]))


@dataclass
class Sheet:
    """Rows read from a workbook: each a dict by column key, with its sheet row number."""

    rows: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    label: dict = field(default_factory=dict)  # column key → header in the user's language


def read_sheet(file, columns):
    """The first sheet's rows by the columns' headers (in either language or as keys). A formula is
    read as its text, never evaluated or replaced by a cached result."""
    try:
        wb = load_workbook(file, read_only=True, data_only=False)
    except Exception:  # openpyxl raises many types for a file that is not a workbook
        raise ImportFailed([RowError(1, "-", _("The file is not an Excel .xlsx workbook."))])
    ws = wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header = next(rows, None) or ()
    positions = {}
    for col in columns:
        names = col.labels() | {col.key}
        idx = next((i for i, h in enumerate(header) if h is not None and str(h).strip() in names), None)
        if idx is None and col.required:
            raise ImportFailed([RowError(1, str(col.label), _("This column is missing from the header row."))])
        positions[col.key] = idx
    sheet = Sheet(label={c.key: str(c.label) for c in columns})
    for number, values in enumerate(rows, start=2):
        if number > MAX_ROWS + 1:
            raise ImportFailed([RowError(number, "-", _("Too many rows; split the file."))])
        if not values or all(v in (None, "") for v in values):
            continue
        row = {"_row": number}
        for col in columns:
            idx = positions[col.key]
            raw = values[idx] if idx is not None and idx < len(values) else None
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                if col.required:
                    sheet.errors.append(RowError(number, str(col.label), _("This field is required.")))
                row[col.key] = ""
                continue
            if col.choices is not None:
                try:
                    raw = col.parse_choice(raw)
                except ValueError as e:
                    sheet.errors.append(RowError(number, str(col.label), str(e)))
                    continue
            elif isinstance(raw, float) and raw.is_integer():
                raw = int(raw)
            row[col.key] = raw.strip() if isinstance(raw, str) else raw
        sheet.rows.append(row)
    wb.close()
    return sheet
