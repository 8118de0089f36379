"""A CSV file as rows of named text cells, with every problem tied to a line and a column.

Import files come from spreadsheets and other systems: UTF-8 with or without a byte-order
mark (Excel writes one), quoted cells with commas and line breaks, stray blank lines. This
reads them into plain dictionaries and says precisely where a file is malformed, before any
of it is interpreted: a person fixing a 20,000-line file needs the line number.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEADER_LINE = 1


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem: the physical line it starts on, the column it is in, and why."""

    line: int
    column: str
    reason: str

    def render(self, source: str) -> str:
        return f"{source}:{self.line}: {self.column}: {self.reason}"


@dataclass(frozen=True, slots=True)
class CsvRow:
    """A data row: its first physical line and its non-blank cells, whitespace trimmed."""

    line: int
    cells: dict[str, str]


@dataclass(frozen=True, slots=True)
class CsvFormat:
    """The columns a file may have. ``prefixes`` admit families such as ``attr.colour``."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    prefixes: tuple[str, ...] = ()

    def knows(self, column: str) -> bool:
        if column in self.required or column in self.optional:
            return True
        return any(column.startswith(p) and len(column) > len(p) for p in self.prefixes)


@dataclass
class CsvContent:
    """The well-formed rows, and the problems found so far. A bad header (or an unreadable
    file) is ``fatal``: no row can be read; a malformed row spoils only itself."""

    rows: list[CsvRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    digest: str = ""  # SHA-256 of the bytes read
    # Not UTF-8, or not CSV, somewhere: nothing after that point can be read.
    unreadable: bool = False

    @property
    def fatal(self) -> bool:
        return self.unreadable or any(error.line <= HEADER_LINE for error in self.errors)


def read_csv(path: Path, spec: CsvFormat) -> CsvContent:
    """Rows of ``path``; any error in the header stops before the rows are read. The file
    is read once, as bytes, and ``digest`` says which bytes: processes sharing an import
    each read it, and must have read the same file."""
    data = path.read_bytes()
    content = CsvContent(digest=hashlib.sha256(data).hexdigest())
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        content.unreadable = True
        content.errors.append(_not_utf8(data, error))
        return content
    del data  # the file once in memory, not twice, while it is parsed
    _read(csv.reader(io.StringIO(text, newline=""), strict=True), spec, content)
    return content


def _not_utf8(data: bytes, error: UnicodeDecodeError) -> RowError:
    """Said at its line and place in it, as every other problem is: in a long file a byte
    offset is no help. Lines end as the CSV reader ends them (CRLF, LF or a lone CR); the
    decoder counted from after the byte-order mark."""
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    at = error.start + bom
    before = data[:at]
    line = 1 + before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n")
    line_start = max(before.rfind(b"\n"), before.rfind(b"\r")) + 1 or bom
    return RowError(
        line,
        "-",
        f"byte {at - line_start + 1} of this line is not UTF-8 (0x{data[at]:02x}); "
        "save the file as UTF-8",
    )


def _read(reader: Any, spec: CsvFormat, content: CsvContent) -> None:
    """The rows; a row that is not CSV is reported at the line it starts on (an unclosed
    quote runs to the end of the file: the reader gives up there, the mistake is where the
    quote opened), and the file is refused."""
    line = HEADER_LINE
    try:
        header = [name.strip() for name in next(reader, [])]
        content.errors.extend(_header_errors(header, spec))
        if content.errors:
            return
        line = HEADER_LINE + 1
        for cells in reader:
            # A quoted cell may span lines, so the next row starts after this one's last.
            next_line = reader.line_num + 1
            if any(cell.strip() for cell in cells):
                _row(content, line, header, cells)
            line = next_line
    except csv.Error as error:
        content.rows.clear()
        content.unreadable = True
        content.errors.append(RowError(line, "-", f"not readable as CSV: {error}"))


def _row(content: CsvContent, line: int, header: list[str], cells: list[str]) -> None:
    if len(cells) != len(header):
        content.errors.append(
            RowError(line, "-", f"has {len(cells)} cells where the header has {len(header)}")
        )
        return
    values = {name: cell.strip() for name, cell in zip(header, cells, strict=True) if cell.strip()}
    content.rows.append(CsvRow(line, values))


def _header_errors(header: list[str], spec: CsvFormat) -> list[RowError]:
    if not any(header):
        return [RowError(HEADER_LINE, "-", "the file is empty; the first line must name columns")]
    errors: list[RowError] = []
    seen: set[str] = set()
    for name in header:
        if name in seen:
            errors.append(RowError(HEADER_LINE, name, "column appears twice"))
        elif not spec.knows(name):
            errors.append(RowError(HEADER_LINE, name or "(blank)", "unknown column"))
        seen.add(name)
    for name in spec.required:
        if name not in seen:
            errors.append(RowError(HEADER_LINE, name, "required column is missing"))
    return errors
