"""Any aggregate as of an instant or a version, reconstructed from its events alone."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from application import CRM, NotFound
from application.command_log import command_stream_id
from domain.aggregates import Customer
from domain.aggregates.complaint import Complaint
from domain.aggregates.opportunity import Opportunity
from domain.aggregates.order import Order
from domain.vocabulary import RelationshipTier
from tests.audit.history import START, record_history


def test_by_version_each_step_of_a_customer(crm: CRM) -> None:
    history = record_history(crm)

    states = [crm.audit.as_of(history.customer_id, version=v) for v in range(1, 6)]

    assert all(isinstance(state, Customer) for state in states)
    assert [s.version for s in states] == [1, 2, 3, 4, 5]
    assert [s.tier for s in states] == [RelationshipTier.TRANSACTIONAL] * 2 + [
        RelationshipTier.PARTNER
    ] * 3
    assert [s.loyalty_points for s in states] == [0, 0, 0, 120, 120]
    assert [s.is_member for s in states] == [False] * 4 + [True]


def test_by_business_time_takes_the_events_that_had_occurred(crm: CRM) -> None:
    history = record_history(crm)

    just_before_points = crm.audit.as_of(history.customer_id, at=history.at(3) - timedelta(0, 1))
    at_points = crm.audit.as_of(history.customer_id, at=history.at(3))
    now = crm.audit.as_of(history.customer_id)

    assert (just_before_points.version, just_before_points.loyalty_points) == (3, 0)
    assert (at_points.version, at_points.loyalty_points) == (4, 120)
    assert now.version == 5


def test_at_and_version_together_take_the_earlier(crm: CRM) -> None:
    history = record_history(crm)

    assert crm.audit.as_of(history.customer_id, at=history.at(4), version=2).version == 2
    assert crm.audit.as_of(history.customer_id, at=history.at(1), version=5).version == 2


def test_the_kind_is_read_from_the_first_event(crm: CRM) -> None:
    history = record_history(crm)

    assert isinstance(crm.audit.as_of(history.opportunity_id), Opportunity)
    assert isinstance(crm.audit.as_of(history.order_id), Order)
    assert isinstance(crm.audit.as_of(history.complaint_id), Complaint)


def test_an_id_that_is_no_aggregate_is_not_found(crm: CRM) -> None:
    history = record_history(crm)
    registered = crm.events(history.customer_id)[0]
    assert registered.command_id is not None
    command_record = command_stream_id(registered.command_id)
    assert crm.events(command_record)  # a stream, but bookkeeping, not an aggregate

    with pytest.raises(NotFound) as unknown:
        crm.audit.as_of(uuid4())
    with pytest.raises(NotFound) as bookkeeping:
        crm.audit.as_of(command_record)

    assert unknown.value.kind == bookkeeping.value.kind == "aggregate"


def test_before_it_existed_is_not_found_naming_at(crm: CRM) -> None:
    history = record_history(crm)

    with pytest.raises(NotFound) as error:
        crm.audit.as_of(history.customer_id, at=START - timedelta(seconds=1))

    assert (error.value.kind, error.value.field) == ("customer", "at")


def test_a_version_below_1_is_refused(crm: CRM) -> None:
    history = record_history(crm)

    with pytest.raises(ValueError, match="version must be 1 or more"):
        crm.audit.as_of(history.customer_id, version=0)


def test_the_view_is_json_ready_with_kind_coordinates_and_state(crm: CRM) -> None:
    history = record_history(crm)

    view = crm.audit.view(history.customer_id, at=history.at(3))

    assert (view.kind, view.aggregate_id, view.version) == ("customer", history.customer_id, 4)
    assert view.at == history.at(3) and view.last_occurred_at == history.at(3)
    assert view.state["tier"] == "partner"
    assert view.state["loyalty_points"] == 120
    assert view.state["profile"]["name"] == "华信贸易有限公司"
    assert view.model_dump_json()  # every value serialises
