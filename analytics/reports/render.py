"""CSV and XLSX from rows, safe to open in a spreadsheet: a text cell that starts with ``=``,
``+``, ``-``, ``@`` (or a tab or carriage return) would be read as a formula there, so it gets a
leading ``'``. Numbers stay numbers (a negative amount is not a formula)."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

from openpyxl import Workbook

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class _Line:
    """A file-like object ``csv.writer`` writes one line into, handed back by ``writerow``."""

    def write(self, value: str) -> str:
        return value


def csv_chunks(
    header: list[str], rows: Iterable[Iterable[Any]], *, rows_per_chunk: int = 1000
) -> Iterator[bytes]:
    """UTF-8 CSV (with a BOM, so spreadsheets read it as UTF-8) in chunks of ``rows_per_chunk``
    lines: memory stays constant however many rows come."""
    writer = csv.writer(_Line())
    yield ("\ufeff" + writer.writerow(header)).encode()
    lines: list[str] = []
    for row in rows:
        lines.append(writer.writerow([safe_cell(value) for value in row]))
        if len(lines) >= rows_per_chunk:
            yield "".join(lines).encode()
            lines = []
    if lines:
        yield "".join(lines).encode()


def xlsx_file(header: list[str], rows: Iterable[Iterable[Any]], *, title: str = "Report") -> IO[bytes]:
    """An XLSX workbook (one sheet, header row first) in a temporary file, positioned at 0.
    Written in openpyxl's write-only mode, which does not keep the cells in memory."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_sheet_title(title))
    sheet.append(header)
    for row in rows:
        sheet.append([safe_cell(value) for value in row])
    spooled = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)  # noqa: SIM115 - returned open
    workbook.save(spooled)
    spooled.seek(0)
    return spooled


def _sheet_title(title: str) -> str:
    # Excel refuses these characters in sheet names, and names over 31 characters.
    cleaned = "".join(" " if char in "[]:*?/\\" else char for char in title).strip()
    return (cleaned or "Report")[:31]
