"""Ids a caller gives to what a command creates (a follow-up, a survey) are the store's, not
one customer's: the read models key them so, and a second customer's would replace the
first's row (and its completion complete the other's)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from application import CRM, RuleViolation
from application.commands import (
    DimensionScore,
    RecordSatisfactionSurvey,
    ScheduleFollowUp,
)
from tests.application.builders import REP, SERVICE, register

DUE = datetime.now(UTC) + timedelta(days=9)


def survey(customer_id: object, survey_id: object) -> RecordSatisfactionSurvey:
    return RecordSatisfactionSurvey.model_validate(
        {
            "customer_id": customer_id,
            "survey_id": survey_id,
            "scores": [DimensionScore(dimension="service", expected=5, perceived=6)],
        }
    )


def test_a_survey_id_given_to_another_customer_is_refused_and_the_first_row_stays(
    crm: CRM,
) -> None:
    first, second, shared = register(crm), register(crm, name="Other Co"), uuid4()
    crm.execute(survey(first, shared), actor=SERVICE)

    with pytest.raises(RuleViolation) as refused:
        crm.execute(survey(second, shared), actor=SERVICE)

    assert (refused.value.rule, refused.value.field) == ("survey_id_unique", "survey_id")
    crm.read_models.catch_up()
    assert [m.surveys for m in crm.read_models.operations.satisfaction_trend(first)] == [1]
    assert crm.read_models.operations.satisfaction_trend(second) == []


def test_a_follow_up_id_given_to_another_customer_is_refused_and_the_first_stays_due(
    crm: CRM,
) -> None:
    first, second, shared = register(crm), register(crm, name="Other Co"), uuid4()
    schedule = {"follow_up_id": shared, "purpose": "revisit", "due_at": DUE}
    crm.execute(ScheduleFollowUp(customer_id=first, **schedule), actor=REP)

    with pytest.raises(RuleViolation) as refused:
        crm.execute(ScheduleFollowUp(customer_id=second, **schedule), actor=REP)

    assert (refused.value.rule, refused.value.field) == ("follow_up_id_unique", "follow_up_id")
    crm.read_models.catch_up()
    due = crm.read_models.operations.follow_ups_due(DUE + timedelta(days=1))
    assert [(d.follow_up_id, d.customer_id) for d in due if d.follow_up_id == shared] == [
        (shared, first)
    ]


def test_an_id_crm_core_made_cannot_be_given_to_another_customer(crm: CRM) -> None:
    first, second = register(crm), register(crm, name="Other Co")
    made = crm.execute(
        ScheduleFollowUp(customer_id=first, purpose="revisit", due_at=DUE), actor=REP
    ).events[0]

    with pytest.raises(RuleViolation) as refused:
        crm.execute(
            ScheduleFollowUp(
                customer_id=second,
                follow_up_id=made.follow_up_id,  # type: ignore[attr-defined]
                purpose="revisit",
                due_at=DUE,
            ),
            actor=REP,
        )
    assert refused.value.rule == "follow_up_id_unique"
