"""Carrying out customer commands: load, ask the aggregate, hand back what changed."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from application.command_log import derived_id
from application.commands.customer import (
    AwardLoyaltyPoints,
    ChangeRelationshipTier,
    CompleteFollowUp,
    DisqualifyCustomer,
    EraseCustomerPersonalData,
    JoinMembership,
    LeaveMembership,
    MarkFollowUpMissed,
    MergeCustomers,
    RecordContact,
    RecordReferral,
    RecordSatisfactionSurvey,
    RedeemLoyaltyPoints,
    RegisterCustomer,
    RequalifyCustomer,
    ScheduleFollowUp,
    UpdateCustomerProfile,
)
from application.handlers.merged import merged_ids
from application.handlers.registry import handles
from application.unit_of_work import UnitOfWork
from domain.aggregates.customer import Customer
from domain.aggregates.opportunity import Opportunity, check_opportunity_of_customer
from domain.context import CommandContext
from domain.events.customer import CustomerProfile
from domain.values import ContactPoints

CONTACT_FIELDS = ("phone", "email", "address")
EXTERNAL_REF_SCOPE = "external_ref"
REFERRAL_SCOPE = "referral"
# Ids a caller gives are unique in the store, not only within the customer: the read
# models key follow-ups and surveys by them (one customer's would replace another's).
FOLLOW_UP_SCOPE = "follow_up_id"
SURVEY_SCOPE = "survey_id"


@handles(RegisterCustomer)
def register_customer(
    uow: UnitOfWork, command: RegisterCustomer, context: CommandContext
) -> Customer:
    customer_id = derived_id(command, "customer") or uuid4()
    fields = command.model_dump(
        include=set(CustomerProfile.model_fields) - {"contact"}, exclude_none=False
    )
    profile = CustomerProfile(
        **fields,
        contact=ContactPoints(phone=command.phone, email=command.email, address=command.address),
    )
    if command.external_ref is not None:
        uow.claim_unique(
            EXTERNAL_REF_SCOPE, command.external_ref, customer_id, field="external_ref"
        )
    customer = Customer.register(
        context,
        customer_id=customer_id,
        profile=profile,
        tier=command.tier,
        external_ref=command.external_ref,
    )
    uow.add(customer)
    return customer


@handles(UpdateCustomerProfile)
def update_customer_profile(
    uow: UnitOfWork, command: UpdateCustomerProfile, context: CommandContext
) -> Customer:
    customer = uow.get(Customer, command.customer_id, field="customer_id")
    given = command.model_fields_set - {"customer_id", "command_id", "occurred_at"}
    changes: dict[str, Any] = {
        name: getattr(command, name) for name in given if name not in CONTACT_FIELDS
    }
    contact_changes = {name: getattr(command, name) for name in given if name in CONTACT_FIELDS}
    if contact_changes:
        changes["contact"] = customer.profile.contact.model_copy(update=contact_changes)
    customer.update_profile(context, changes)
    return customer


@handles(RecordContact)
def record_contact(uow: UnitOfWork, command: RecordContact, context: CommandContext) -> Customer:
    customer = uow.get(Customer, command.customer_id, field="customer_id")
    if command.opportunity_id is not None:
        opportunity = uow.get(Opportunity, command.opportunity_id, field="opportunity_id")
        merged = merged_ids(uow, customer.id, opportunity.customer_id, field="opportunity_id")
        check_opportunity_of_customer(opportunity, customer, merged_ids=merged)
    customer.record_contact(
        context,
        channel=command.channel,
        direction=command.direction,
        summary=command.summary,
        outcome=command.outcome,
        opportunity_id=command.opportunity_id,
    )
    return customer


@handles(ScheduleFollowUp)
def schedule_follow_up(
    uow: UnitOfWork, command: ScheduleFollowUp, context: CommandContext
) -> Customer:
    customer = uow.get(Customer, command.customer_id, field="customer_id")
    follow_up_id = command.follow_up_id or derived_id(command, "follow_up") or uuid4()
    customer.schedule_follow_up(
        context,
        follow_up_id=follow_up_id,
        purpose=command.purpose,
        due_at=command.due_at,
        assignee_id=command.assignee_id,
        note=command.note,
    )
    # A made id is claimed too: a caller may give it later, for another customer.
    uow.claim_unique(FOLLOW_UP_SCOPE, str(follow_up_id), customer.id, field="follow_up_id")
    return customer


@handles(CompleteFollowUp)
def complete_follow_up(
    uow: UnitOfWork, command: CompleteFollowUp, context: CommandContext
) -> Customer:
    customer = uow.get(Customer, command.customer_id, field="customer_id")
    customer.complete_follow_up(context, follow_up_id=command.follow_up_id, note=command.note)
    return customer


@handles(MarkFollowUpMissed)
def mark_follow_up_missed(
    uow: UnitOfWork, command: MarkFollowUpMissed, context: CommandContext
) -> Customer:
    customer = uow.get(Customer, command.customer_id, field="customer_id")
    customer.mark_follow_up_missed(
        context, follow_up_id=command.follow_up_id, reason=command.reason
    )
    return customer


@handles(ChangeRelationshipTier)
def change_relationship_tier(
    uow: UnitOfWork, command: ChangeRelationshipTier, context: CommandContext
) -> Customer:
    customer = uow.get(Customer, command.customer_id, field="customer_id")
    customer.change_relationship_tier(context, tier=command.tier, reason=command.reason)
    return customer


@handles(JoinMembership)
def join_membership(uow: UnitOfWork, command: JoinMembership, context: CommandContext) -> Customer:
    customer = uow.get(Customer, command.customer_id, field="customer_id")
    customer.join_membership(
        context, membership_number=command.membership_number, program=command.program
    )
    return customer


@handles(LeaveMembership)
def leave_membership(
    uow: UnitOfWork, command: LeaveMembership, context: CommandContext
) -> Customer:
    customer = uow.get(Customer, command.customer_id, field="customer_id")
    customer.leave_membership(context, reason=command.reason)
    return customer


@handles(AwardLoyaltyPoints)
def award_loyalty_points(
    uow: UnitOfWork, command: AwardLoyaltyPoints, context: CommandContext
) -> Customer:
    customer = uow.get(Customer, command.customer_id, field="customer_id")
    customer.award_loyalty_points(context, points=command.points, reason=command.reason)
    return customer


@handles(RedeemLoyaltyPoints)
def redeem_loyalty_points(
    uow: UnitOfWork, command: RedeemLoyaltyPoints, context: CommandContext
) -> Customer:
    customer = uow.get(Customer, command.customer_id, field="customer_id")
    customer.redeem_loyalty_points(context, points=command.points, reason=command.reason)
    return customer


@handles(RecordReferral)
def record_referral(uow: UnitOfWork, command: RecordReferral, context: CommandContext) -> Customer:
    referrer = uow.get(Customer, command.customer_id, field="customer_id")
    referred = uow.get(Customer, command.referred_customer_id, field="referred_customer_id")
    referred.ensure_not_merged(field="referred_customer_id")
    referrer.record_referral(context, referred_customer_id=command.referred_customer_id)
    uow.claim_unique(
        REFERRAL_SCOPE, str(command.referred_customer_id), referrer.id, field="referred_customer_id"
    )
    return referrer


@handles(DisqualifyCustomer)
def disqualify_customer(
    uow: UnitOfWork, command: DisqualifyCustomer, context: CommandContext
) -> Customer:
    customer = uow.get(Customer, command.customer_id, field="customer_id")
    customer.disqualify(context, reason=command.reason)
    return customer


@handles(RequalifyCustomer)
def requalify_customer(
    uow: UnitOfWork, command: RequalifyCustomer, context: CommandContext
) -> Customer:
    customer = uow.get(Customer, command.customer_id, field="customer_id")
    customer.requalify(context, reason=command.reason)
    return customer


@handles(RecordSatisfactionSurvey)
def record_satisfaction_survey(
    uow: UnitOfWork, command: RecordSatisfactionSurvey, context: CommandContext
) -> Customer:
    customer = uow.get(Customer, command.customer_id, field="customer_id")
    survey_id = command.survey_id or derived_id(command, "survey") or uuid4()
    customer.record_satisfaction_survey(
        context,
        survey_id=survey_id,
        scores=command.scores,
        nps=command.nps,
        comment=command.comment,
    )
    uow.claim_unique(SURVEY_SCOPE, str(survey_id), customer.id, field="survey_id")
    return customer


@handles(MergeCustomers)
def merge_customers(uow: UnitOfWork, command: MergeCustomers, context: CommandContext) -> Customer:
    """Both streams change in one transaction: a merge half-recorded would leave the
    duplicate open, or its points counted twice."""
    survivor = uow.get(Customer, command.survivor_id, field="survivor_id")
    duplicate = uow.get(Customer, command.duplicate_id, field="duplicate_id")
    survivor.absorb(context, duplicate, command.field_choices)
    return survivor


@handles(EraseCustomerPersonalData)
def erase_customer_personal_data(
    uow: UnitOfWork, command: EraseCustomerPersonalData, context: CommandContext
) -> Customer:
    """The customer and every duplicate merged into it, however deep, in one transaction:
    the store destroys each one's key together with its erasure event."""
    customer = uow.get(Customer, command.customer_id, field="customer_id")
    pending = [
        (customer.id, d) for d in customer.erase_personal_data(context, reason=command.reason)
    ]
    while pending:
        survivor_id, duplicate_id = pending.pop()
        duplicate = uow.get(Customer, duplicate_id, field="customer_id")
        more = duplicate.erase_as_duplicate(context, survivor_id=survivor_id, reason=command.reason)
        pending.extend((duplicate.id, d) for d in more)
    return customer
