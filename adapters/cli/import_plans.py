"""CSV rows turned into commands, and every error turned back into a line and a column.

A plan is one command plus the file lines it came from (an order spans one line per order
line), so that whatever rejects the command later — pydantic, a business rule, a missing
customer — is reported where the person must fix it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from adapters.imports.csv_file import CsvRow, RowError
from adapters.imports.formats import (
    ADDRESS_FIELDS,
    ADDRESS_PREFIX,
    ATTRIBUTE_PREFIX,
    LINE_COLUMNS,
    ORDER_COLUMNS,
)
from application.commands import RegisterCustomer
from application.commands.base import Command
from application.commands.order import ImportOrder
from application.errors import NotFound
from domain.errors import CRMError, RuleViolation
from domain.time import NUMBER_FOR_INSTANT

CODE = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")
DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INSTANT_COLUMNS = ("registered_at", "approved_at", "fulfilled_at", "paid_at", "cancelled_at")
# A command's instant refuses a number (domain/time.py); a file may also give a bare date.
NUMBER_IN_INSTANT_COLUMN = (
    "a number is not a date: write YYYY-MM-DD (00:00 UTC) or ISO 8601 with an offset, "
    "e.g. 2024-05-01T09:30:00+08:00"
)

# Command field -> CSV column, where their names differ.
CUSTOMER_COLUMN = {"occurred_at": "registered_at", "command_id": "external_ref"}
ORDER_COLUMN = {
    "external_ref": "order_ref",
    "customer_id": "customer_ref",
    "command_id": "order_ref",
}
LINE_COLUMN = {"name": "item_name"}


@dataclass(frozen=True, slots=True)
class Source:
    """Where a command comes from: its type and its lines in the file (for an order: its
    first line, then one per order line, in order)."""

    kind: type[Command]
    lines: tuple[int, ...]

    def locate(self, field: tuple[Any, ...]) -> tuple[int, str]:
        """The file line and column of a command field (a pydantic ``loc``)."""
        if self.kind is ImportOrder:
            if field[:1] == ("lines",) and len(field) >= 2 and isinstance(field[1], int):
                line = self.lines[1 + field[1]] if 1 + field[1] < len(self.lines) else self.lines[0]
                name = str(field[2]) if len(field) > 2 else "-"
                return line, LINE_COLUMN.get(name, name)
            name = str(field[0]) if field else "-"
            return self.lines[0], ORDER_COLUMN.get(name, name)
        if field[:1] == ("address",) and len(field) > 1:
            return self.lines[0], ADDRESS_PREFIX + str(field[1])
        if field[:1] == ("attributes",) and len(field) > 1:
            return self.lines[0], ATTRIBUTE_PREFIX + str(field[1])
        name = str(field[0]) if field else "-"
        return self.lines[0], CUSTOMER_COLUMN.get(name, name)


@dataclass(frozen=True, slots=True)
class Plan:
    """One command to run; ``ref`` is its key in the file."""

    ref: str
    command: Command
    source: Source


def customer_plans(rows: list[CsvRow]) -> tuple[list[Plan], list[RowError]]:
    plans: list[Plan] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    for row in rows:
        ref = row.cells.get("external_ref", "")
        if not ref:
            errors.append(RowError(row.line, "external_ref", "Field required"))
            continue
        if ref in first_line:
            errors.append(
                RowError(row.line, "external_ref", f"{ref!r} is also on line {first_line[ref]}")
            )
            continue
        first_line[ref] = row.line
        fields: dict[str, Any] = {}
        address: dict[str, str] = {}
        attributes: dict[str, str] = {}
        for column, value in row.cells.items():
            if column.startswith(ATTRIBUTE_PREFIX):
                attributes[column.removeprefix(ATTRIBUTE_PREFIX)] = value
            elif (
                column.startswith(ADDRESS_PREFIX)
                and column[len(ADDRESS_PREFIX) :] in ADDRESS_FIELDS
            ):
                address[column.removeprefix(ADDRESS_PREFIX)] = value
            elif column == "registered_at":
                fields["occurred_at"] = _instant(value)
            else:
                fields[column] = value
        if address:
            fields["address"] = address
        if attributes:
            fields["attributes"] = attributes
        if CODE.match(ref):
            fields["command_id"] = f"import:customer:{ref}"
        source = Source(RegisterCustomer, (row.line,))
        command = _build(fields, source, errors)
        if command is not None:
            plans.append(Plan(ref, command, source))
    return plans, errors


@dataclass
class _Order:
    first: CsvRow
    lines: list[CsvRow]


def order_plans(
    rows: list[CsvRow], customers: Mapping[str, UUID], batch_id: str
) -> tuple[list[Plan], list[RowError]]:
    """``customers`` maps each customer_ref the store knows to its customer id."""
    errors: list[RowError] = []
    orders: dict[str, _Order] = {}
    for row in rows:
        ref = row.cells.get("order_ref", "")
        if not ref:
            errors.append(RowError(row.line, "order_ref", "Field required"))
            continue
        order = orders.get(ref)
        if order is None:
            orders[ref] = _Order(row, [row])
            continue
        order.lines.append(row)
        for column in ORDER_COLUMNS:
            value = row.cells.get(column)
            if value is not None and value != order.first.cells.get(column):
                errors.append(
                    RowError(
                        row.line,
                        column,
                        f"{value!r} differs from line {order.first.line} of order {ref!r} "
                        f"({order.first.cells.get(column, '')!r}); leave it blank or repeat it",
                    )
                )
    plans: list[Plan] = []
    for ref, order in orders.items():
        head = order.first.cells
        lines = (order.first.line, *(row.line for row in order.lines))
        customer_ref = head.get("customer_ref")
        if customer_ref is None:
            errors.append(RowError(order.first.line, "customer_ref", "Field required"))
            continue
        customer_id = customers.get(customer_ref)
        if customer_id is None:
            errors.append(
                RowError(
                    order.first.line,
                    "customer_ref",
                    f"no customer has external_ref {customer_ref!r} (import the customers first)",
                )
            )
            continue
        fields: dict[str, Any] = {
            column: head[column]
            for column in ORDER_COLUMNS
            if column in head and column not in ("order_ref", "customer_ref")
        }
        for column in INSTANT_COLUMNS:
            if column in fields:
                fields[column] = _instant(fields[column])
        fields |= {
            "customer_id": customer_id,
            "external_ref": ref,
            "import_batch_id": batch_id,
            "lines": [_line(row.cells) for row in order.lines],
        }
        if CODE.match(ref):
            fields["command_id"] = f"import:order:{ref}"
        source = Source(ImportOrder, lines)
        command = _build(fields, source, errors)
        if command is not None:
            plans.append(Plan(ref, command, source))
    return plans, errors


def command_errors(plan: Plan, error: CRMError | ValidationError) -> list[RowError]:
    """An error the command path raised, at the lines and columns of the file."""
    if isinstance(error, ValidationError):
        return validation_errors(plan.source, error)
    field = getattr(error, "field", None)
    line, column = plan.source.locate((field,) if field else ())
    if isinstance(error, RuleViolation) and error.rule == "command_id_unique":
        reason = f"{plan.ref!r} was imported before with other values ({error.rule})"
    elif isinstance(error, RuleViolation):
        reason = f"{error.message} ({error.rule})"
    elif isinstance(error, NotFound):
        reason = f"no {error.kind} {error.aggregate_id}"
    else:
        reason = str(error)
    return [RowError(line, column, reason)]


def validation_errors(source: Source, error: ValidationError) -> list[RowError]:
    details = error.errors(include_url=False)
    bad_lines = any(d["loc"][:1] == ("lines",) and len(d["loc"]) > 1 for d in details)
    found = []
    for detail in details:
        if bad_lines and detail["loc"] == ("lines",) and detail["type"] == "too_short":
            continue  # only says that the order's bad lines were dropped: already reported
        line, column = source.locate(tuple(detail["loc"]))
        reason = detail["msg"].removeprefix("Value error, ")
        if column in INSTANT_COLUMNS and reason == NUMBER_FOR_INSTANT:
            reason = NUMBER_IN_INSTANT_COLUMN
        given = detail.get("input")
        if isinstance(given, str) and detail["type"] != "missing":
            given = _as_written(given)
            shown = given if len(given) <= 40 else given[:37] + "..."
            if repr(shown) not in reason:
                reason += f" (got {shown!r})"
        found.append(RowError(line, column, reason))
    return found


def _build(fields: dict[str, Any], source: Source, errors: list[RowError]) -> Command | None:
    try:
        return source.kind.model_validate(fields)
    except ValidationError as error:
        errors.extend(validation_errors(source, error))
        return None


def _line(cells: Mapping[str, str]) -> dict[str, str]:
    return {
        LINE_FIELD.get(column, column): cells[column] for column in LINE_COLUMNS if column in cells
    }


LINE_FIELD = {column: field for field, column in LINE_COLUMN.items()}


MIDNIGHT_UTC = "T00:00:00Z"


def _instant(value: str) -> str:
    """A bare date is midnight UTC; anything else must say its offset."""
    return value + MIDNIGHT_UTC if DATE_ONLY.match(value) else value


def _as_written(value: str) -> str:
    """The cell as the file has it, for a value ``_instant`` completed."""
    head = value.removesuffix(MIDNIGHT_UTC)
    return head if head != value and DATE_ONLY.match(head) else value
