"""The fastest any import could go on this machine while keeping what the standards and the
stored model require: a ceiling to hold ``crm import`` and its target against.

Whatever an import's design, each business event (a customer registered, an order imported)
needs at least this much work, measured here on the import's own files, in one process, with
nothing read and nothing coordinated:

- ``read``: the CSV file parsed (Python's ``csv.reader``, nothing more);
- ``validate``: its command validated by pydantic (the standards: every command is);
- ``events``: the events it stores built as the domain's validated pydantic models (today
  three: the business event, its unique-value claim, its command record; the rules that
  decide them are left out, so this is less than deciding costs);
- ``fingerprint``: its command's fingerprint (what a re-import is compared with);
- ``encode``: those events turned into the rows the store holds (JSON, personal values
  encrypted) by the store's own encoder;
- ``seal``: each row chained to its stream's predecessor (the hash the audit verifies);
- ``store``: storing the rows, as the same run's store floor does it: the CPU the inserting
  process and every PostgreSQL process spent meanwhile, per business event.

Each step is priced with the components this code is built from (pydantic models, the
store's mapper and recorder): a design built from others would have other figures. And
the commands are validated from Python values, not from the file's strings, with warm
caches: the ceiling is generous.

The ceiling is the machine's cores divided by that sum (every step spread over every core
with no overhead, no waiting and no reading of what is already stored), or the store
floor's own speed if that is lower (writers take turns on the events table). No import
that does these steps can go faster; one that does more (checking the store, deciding by
the rules, sending rows between processes) goes slower.

A second ceiling prices a change to the stored model: one row per business event (the
claim and the command record folded into it, the fingerprint kept in the event). It is the
same sum over the business events' rows only, with the floor measured on those rows.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from adapters.audit.chain import GENESIS
from adapters.cli.import_plans import customer_plans, order_plans
from adapters.cli.import_share import IMPORTER, _customers_by_ref
from adapters.collector import collector_paused
from adapters.imports.csv_file import read_csv
from adapters.imports.formats import CUSTOMERS, ORDERS
from adapters.mapper import PydanticEventMapper
from application import CRM
from application.batch import CheckedCommand
from application.command_log import fingerprint
from bench.common import check
from domain.events.base import DomainEvent

BUSINESS_TOPICS = ("CustomerRegistered", "OrderImported")
STEPS = ("read", "validate", "events", "fingerprint", "encode", "seal")


def cores() -> int:
    return len(os.sched_getaffinity(0))


def required_work(
    customer_path: Path, order_path: Path, batch_size: int
) -> dict[str, dict[str, float]]:
    """CPU µs per business event of each step, for the rows as stored today (``stored``)
    and for one row per business event (``one_row``)."""
    with collector_paused(), CRM.open("memory://") as crm:
        checked = _decided(crm, customer_path, order_path, batch_size)
        business = len(checked)
        commands = [item.command for item in checked]
        command_dumps = [(type(c), c.model_dump(exclude_unset=True)) for c in commands]
        stored = [list(item.events) for item in checked]
        only_business = [
            [e for e in events if e.event_type() in BUSINESS_TOPICS] for events in stored
        ]
        check(all(len(events) == 1 for events in only_business), "one business event a row")
        paths = (customer_path, order_path)
        shared = {
            "read": _cpu(lambda: [_parse(path) for path in paths]),
            "validate": _cpu(lambda: [kind.model_validate(d) for kind, d in command_dumps]),
            "fingerprint": _cpu(lambda: [fingerprint(command) for command in commands]),
        }
        figures: dict[str, dict[str, float]] = {}
        for name, rows in (("stored", stored), ("one_row", only_business)):
            seconds = shared | _event_steps(crm, rows, batch_size)
            figures[name] = {step: round(seconds[step] / business * 1e6, 2) for step in STEPS}
        return figures


def ceiling(
    work_us: dict[str, float], floor_business_events_per_s: float, store_cpu_us: float
) -> dict[str, Any]:
    """Business events/s at most on this machine: the cores shared by the steps and by
    storing (its CPU, this process's and PostgreSQL's), and never faster than storing
    alone goes (writers take turns on the events table)."""
    total = sum(work_us.values()) + store_cpu_us
    return {
        "steps_us": work_us,
        "store_us": round(store_cpu_us, 2),
        "total_us": round(total, 2),
        "cores": cores(),
        "business_events_per_s": round(min(cores() * 1e6 / total, floor_business_events_per_s), 1),
    }


def store_cpu_seconds() -> float:
    """CPU seconds this process and every PostgreSQL process on this machine have spent
    (``/proc/<pid>/stat``): the difference around storing is its CPU, the client's and the
    server's, whatever else the machine is running. A backend that ends in between takes
    its share with it: the floor keeps its connections open while it is timed."""
    tick = os.sysconf("SC_CLK_TCK")
    user, system = os.times()[:2]
    total = user + system
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as file:
                stat = file.read()
        except OSError:  # ended meanwhile, or not ours to read
            continue
        name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        if name == "postgres":
            fields = rest.split()  # from field 3 (state): utime and stime are fields 14, 15
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _event_steps(crm: CRM, rows: list[list[DomainEvent]], batch_size: int) -> dict[str, float]:
    """CPU seconds to build these events (validated), to encode them a batch at a time, and
    to seal the rows."""
    dumps = [(type(e), e.model_dump()) for events in rows for e in events]
    batches = [
        [e for events in rows[first : first + batch_size] for e in events]
        for first in range(0, len(rows), batch_size)
    ]
    encoded = [row for batch in batches for row in crm.store.encode(batch).rows]
    sealed = PydanticEventMapper.sealed
    return {
        "events": _cpu(lambda: [kind.model_validate(d) for kind, d in dumps]),
        "encode": _cpu(lambda: [crm.store.encode(batch) for batch in batches]),
        # Every stream here starts in the import: each row chains to the genesis hash.
        "seal": _cpu(lambda: [sealed(row, GENESIS) for row in encoded]),
    }


def _decided(
    crm: CRM, customer_path: Path, order_path: Path, batch_size: int
) -> list[CheckedCommand]:
    """Every row of both files checked as ``crm import`` checks it (the customers written,
    so that the orders find them): the commands and the events each stores."""
    plans, errors = customer_plans(read_csv(customer_path, CUSTOMERS).rows)
    check(not errors, "the customer file is valid")
    customers = crm.check_batch([p.command for p in plans], actor=IMPORTER, validated=True)
    chunks = [customers[i : i + batch_size] for i in range(0, len(customers), batch_size)]
    for outcomes in crm.write_checked_batches(chunks, actor=IMPORTER):
        check(all(o.ok for o in outcomes), "every customer stored")
    rows = read_csv(order_path, ORDERS).rows
    plans, errors = order_plans(rows, _customers_by_ref(crm, rows), "import:ceiling")
    check(not errors, "the order file is valid")
    orders = crm.check_batch([p.command for p in plans], actor=IMPORTER, validated=True)
    decided = [*customers, *orders]
    check(all(item.outcome.ok and item.events for item in decided), "every row decided")
    return decided


def _parse(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


def _cpu(step: Callable[[], Sequence[Any]]) -> float:
    """CPU seconds of the step, the fastest of three (the machine is noisy; the ceiling is
    a bound, so the fastest is the right one)."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        step()
        best = min(best, time.process_time() - started)
    return best
