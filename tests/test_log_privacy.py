"""No personal data in logs (DESIGN §5), checked on what a host would actually see.

structlog is configured the way the ``crm`` command configures it (``configure_logging``,
JSON, debug level) with its output redirected to a buffer, and every stdlib log record
(the drivers, the event-store library) is captured as well. A scenario with distinctive
names, phones, emails, addresses, birthdays, contact notes and complaint texts — applied,
replayed, refused, denied and not-found commands, and the projections catching up — runs on
both stores, then every captured line is searched for every one of those values.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
import structlog
from freezegun import freeze_time

from adapters.logging_setup import configure_logging
from application import CRM, Actor, NotFound, PermissionDenied, Role, RuleViolation
from application.commands import (
    Address,
    ApproveOrderStep,
    AssessComplaint,
    AssignComplaint,
    AwardLoyaltyPoints,
    CloseComplaint,
    DraftOrder,
    EscalateComplaint,
    FileComplaint,
    FulfillOrder,
    Money,
    OrderLine,
    RecordComplaintFollowUp,
    RecordContact,
    RecordOrderPayment,
    RedeemLoyaltyPoints,
    RegisterCustomer,
    ReopenComplaint,
    ResolveComplaint,
    ScheduleFollowUp,
    SubmitOrderForApproval,
    UpdateCustomerProfile,
)
from domain.approval import ApprovalNode
from tests.application.builders import ADMIN, AUDITOR, MANAGER, REP, SERVICE

START = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)
FINANCE = Actor(id="fin-1", roles=frozenset({Role.FINANCE}))
SERVICE_MANAGER = Actor(id="svc-mgr-1", roles=frozenset({Role.SERVICE_MANAGER}))

PEOPLE: list[dict[str, Any]] = [
    {
        "name": "Zhao Xiaoming Qelvander",
        "phone": "+86 139 1234 5678",
        "email": "zhao.qelvander@example.com",
        "address": Address(
            line1="88 Wisteria Lane Qel", city="Hangzhou Westdistrictus", postal_code="310099"
        ),
        "birthday": date(1987, 3, 14),
    },
    {
        "name": "欧阳娜娜测试",
        "phone": "+86 21 6543 2109",
        "email": "ouyang.nana.t@example.org",
        "address": Address(line1="静安区南京西路一九九九号", city="上海市"),
        "birthday": date(1992, 11, 2),
    },
    {
        "name": "O'Brien; DROP TABLE customers; --",
        "phone": "+353 1 555 0199",
        "email": "obrien.quill@example.ie",
        "address": Address(line1="7 Quillstone Mews", city="Dunquillan"),
        "birthday": date(1975, 7, 30),
    },
]
NEW_PHONE = "+86 188 7766 5544"
NEW_EMAIL = "zhao.new.inbox@example.net"
CONTACT_SUMMARY = "Talked with Zhao about his mortgage and his daughter Lingling's school"
FOLLOW_UP_NOTE = "Call Mrs Ouyang on her private mobile after 8pm"
DESCRIPTION = "Courier Wangfeng left the parcel at neighbour Mrs Pettigrew's flat"
RESOLUTION = "Refunded to card ending 4417 held by Zhao Xiaoming"
REOPEN_REASON = "Customer Qelvander says the refund never reached card 4417"
ESCALATION = "Husband Liu Qiangwei threatened to go to the press"


def personal_values() -> list[str]:
    """Every personal value the scenario records, and the forms a leak could take."""
    values = [NEW_PHONE, NEW_EMAIL, CONTACT_SUMMARY, FOLLOW_UP_NOTE, DESCRIPTION]
    values += [RESOLUTION, REOPEN_REASON, ESCALATION]
    for person in PEOPLE:
        address: Address = person["address"]
        values += [person["name"], person["phone"], person["email"], address.line1]
        values += [v for v in (address.city, address.postal_code) if v]
        values += [person["birthday"].isoformat(), person["birthday"].strftime("%Y%m%d")]
    digits = [
        "".join(ch for ch in v if ch.isdigit()) for v in (NEW_PHONE, *[p["phone"] for p in PEOPLE])
    ]
    return values + digits + [p["email"].split("@")[0] for p in PEOPLE]


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.levelname} {self.format(record)}")


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, Capture]]:
    before = structlog.get_config()
    buffer = io.StringIO()
    configure_logging("debug", json=True)
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(file=buffer), cache_logger_on_first_use=False
    )
    handler = Capture()
    root = logging.getLogger()
    root.addHandler(handler)
    # psycopg and others set their own levels on import: open them all to debug.
    loggers = [root] + [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        yield buffer, handler
    finally:
        root.removeHandler(handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        structlog.reset_defaults()
        structlog.configure(**before)


def run_scenario(crm: CRM) -> int:
    """Returns the number of commands tried."""
    tried = 0

    def run(command: Any, actor: Actor) -> Any:
        nonlocal tried
        tried += 1
        return crm.execute(command, actor=actor)

    def refused(error: type[Exception], command: Any, actor: Actor) -> None:
        with pytest.raises(error):
            run(command, actor)

    customers: list[UUID] = []
    for number, person in enumerate(PEOPLE):
        register = RegisterCustomer(
            kind="individual", command_id=f"import:{number}", external_ref=f"ERP-{number}", **person
        )
        customers.append(run(register, REP).aggregate_id)
        run(register, REP)  # replayed
    zhao, ouyang, obrien = customers
    refused(  # the same command id with another payload
        RuleViolation,
        RegisterCustomer(kind="individual", name=PEOPLE[0]["name"], command_id="import:1"),
        REP,
    )
    refused(  # a second customer with the same external reference
        RuleViolation, RegisterCustomer(kind="individual", name="X", external_ref="ERP-0"), REP
    )
    run(UpdateCustomerProfile(customer_id=zhao, phone=NEW_PHONE, email=NEW_EMAIL), REP)
    refused(PermissionDenied, UpdateCustomerProfile(customer_id=zhao, email=NEW_EMAIL), AUDITOR)
    refused(NotFound, UpdateCustomerProfile(customer_id=uuid4(), email=NEW_EMAIL), REP)
    run(
        RecordContact(
            customer_id=zhao, channel="phone", direction="outbound", summary=CONTACT_SUMMARY
        ),
        REP,
    )
    run(
        ScheduleFollowUp(
            customer_id=ouyang,
            purpose="revisit",
            due_at=START + timedelta(days=3),
            note=FOLLOW_UP_NOTE,
        ),
        REP,
    )
    run(AwardLoyaltyPoints(customer_id=obrien, points=50, reason=CONTACT_SUMMARY), MANAGER)
    refused(
        RuleViolation, RedeemLoyaltyPoints(customer_id=obrien, points=51, reason=ESCALATION), REP
    )

    line = OrderLine(sku="SHF-1", name="Shelving", quantity=Decimal(2), unit_price=Decimal(900))
    order = run(DraftOrder(customer_id=zhao, lines=(line,), currency="CNY"), REP).aggregate_id
    run(SubmitOrderForApproval(order_id=order), REP)
    run(ApproveOrderStep(order_id=order, node=ApprovalNode.SALES_MANAGER), MANAGER)
    run(FulfillOrder(order_id=order, note=FOLLOW_UP_NOTE), REP)
    amount = Money(amount=Decimal(1800), currency="CNY")
    run(RecordOrderPayment(order_id=order, amount=amount, payment_reference="card 4417"), FINANCE)
    refused(RuleViolation, RecordOrderPayment(order_id=order, amount=amount), FINANCE)

    complaint = run(
        FileComplaint(
            customer_id=zhao,
            channel="phone",
            category="delivery",
            severity="high",
            description=DESCRIPTION,
            related_order_id=order,
        ),
        SERVICE,
    ).aggregate_id
    run(EscalateComplaint(complaint_id=complaint, reason=ESCALATION), SERVICE)
    run(AssessComplaint(complaint_id=complaint, valid=True, reason=DESCRIPTION), SERVICE)
    run(AssignComplaint(complaint_id=complaint, department="logistics", handler_id="h-1"), ADMIN)
    refused(RuleViolation, CloseComplaint(complaint_id=complaint, note=RESOLUTION), SERVICE)
    run(ResolveComplaint(complaint_id=complaint, resolution=RESOLUTION), SERVICE)
    run(RecordComplaintFollowUp(complaint_id=complaint, satisfaction=2, note=RESOLUTION), SERVICE)
    run(CloseComplaint(complaint_id=complaint, note=RESOLUTION), SERVICE_MANAGER)
    run(ReopenComplaint(complaint_id=complaint, reason=REOPEN_REASON), SERVICE_MANAGER)
    crm.read_models.catch_up()
    return tried


def test_no_personal_value_appears_in_any_log_line(
    captured: tuple[io.StringIO, Capture], store_url: str
) -> None:
    buffer, stdlib = captured
    # Opened after the capture is configured: a CRM binds its logger when it is made.
    with CRM.open(store_url) as crm, freeze_time(START):
        tried = run_scenario(crm)

    structlog_lines = buffer.getvalue().splitlines()
    records = [json.loads(line) for line in structlog_lines]
    commands = [r for r in records if r["event"] == "command"]
    assert len(commands) == tried
    assert {r["outcome"] for r in commands} == {
        "applied",
        "replayed",
        "rejected",
        "denied",
        "not_found",
    }
    assert any(r["event"] == "projection_batch" for r in records)
    # JSON escapes non-ASCII text: search the decoded values, not only the raw lines.
    texts = [json.dumps(r, ensure_ascii=False, default=str) for r in records]
    texts += structlog_lines + stdlib.lines
    leaks = [
        (value, text)
        for value in personal_values()
        for text in texts
        if value.casefold() in text.casefold()
    ]
    assert not leaks, f"personal data in logs: {leaks[:5]}"
