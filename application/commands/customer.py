"""Commands on customers (客户档案)."""

from __future__ import annotations

from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import Field, ValidationInfo, field_validator

from application.commands.base import Command, Instant
from domain.events.customer import (
    Attributes,
    DimensionScore,
    MergeSide,
    ProfileField,
    one_score_per_dimension,
)
from domain.values import Address, Code, Email, LongText, Name, Phone, PlausibleDate, ShortText
from domain.vocabulary import (
    ContactChannel,
    ContactDirection,
    ContactOutcome,
    CustomerKind,
    FollowUpPurpose,
    ManagementClass,
    MarketingType,
    RelationshipTier,
)

Points = Annotated[int, Field(strict=True, gt=0, le=1_000_000_000)]


# The fields of RegisterCustomer and UpdateCustomerProfile that hold personal values
# (DESIGN §2.1; a company's name too, as a name is given before its kind is known to all).
PERSONAL_FIELDS = frozenset({"name", "phone", "email", "address", "birthday"})


class CustomerCommand(Command):
    customer_id: UUID


class RegisterCustomer(Command):
    creates: ClassVar[str | None] = "customer"
    personal_fields: ClassVar[frozenset[str]] = PERSONAL_FIELDS

    kind: CustomerKind
    name: Name
    phone: Phone | None = None
    email: Email | None = None
    address: Address | None = None
    birthday: PlausibleDate | None = None
    industry: ShortText | None = None
    size: ShortText | None = None
    region: ShortText | None = None
    source_channel: ShortText | None = None
    owner_id: ShortText | None = None
    attributes: Attributes = Field(default_factory=dict)
    management_class: ManagementClass | None = None
    marketing_type: MarketingType | None = None
    tier: RelationshipTier = RelationshipTier.TRANSACTIONAL
    external_ref: Code | None = None


class UpdateCustomerProfile(CustomerCommand):
    """Only the fields given are changed; a field given as null is cleared."""

    personal_fields: ClassVar[frozenset[str]] = PERSONAL_FIELDS

    kind: CustomerKind | None = None
    name: Name | None = None
    phone: Phone | None = None
    email: Email | None = None
    address: Address | None = None
    birthday: PlausibleDate | None = None
    industry: ShortText | None = None
    size: ShortText | None = None
    region: ShortText | None = None
    source_channel: ShortText | None = None
    owner_id: ShortText | None = None
    attributes: Attributes | None = None
    management_class: ManagementClass | None = None
    marketing_type: MarketingType | None = None


class RecordContact(CustomerCommand):
    channel: ContactChannel
    direction: ContactDirection
    summary: LongText
    outcome: ContactOutcome | None = None
    opportunity_id: UUID | None = None


class ScheduleFollowUp(CustomerCommand):
    purpose: FollowUpPurpose
    due_at: Instant
    follow_up_id: UUID | None = None
    assignee_id: ShortText | None = None
    note: LongText | None = None


class CompleteFollowUp(CustomerCommand):
    follow_up_id: UUID
    note: LongText | None = None


class MarkFollowUpMissed(CustomerCommand):
    follow_up_id: UUID
    reason: LongText | None = None


class ChangeRelationshipTier(CustomerCommand):
    tier: RelationshipTier
    reason: LongText | None = None


class JoinMembership(CustomerCommand):
    membership_number: Code | None = None
    program: ShortText | None = None


class LeaveMembership(CustomerCommand):
    reason: LongText | None = None


class AwardLoyaltyPoints(CustomerCommand):
    points: Points
    reason: LongText | None = None


class RedeemLoyaltyPoints(CustomerCommand):
    points: Points
    reason: LongText | None = None


class RecordReferral(CustomerCommand):
    """``customer_id`` is the referrer; a customer can be referred by one referrer only."""

    referred_customer_id: UUID


class DisqualifyCustomer(CustomerCommand):
    reason: LongText


class RequalifyCustomer(CustomerCommand):
    reason: LongText | None = None


class RecordSatisfactionSurvey(CustomerCommand):
    scores: tuple[DimensionScore, ...] = Field(min_length=1, max_length=7)
    nps: int | None = Field(default=None, strict=True, ge=0, le=10)
    comment: LongText | None = None
    survey_id: UUID | None = None

    _one_score_per_dimension = field_validator("scores")(one_score_per_dimension)


class MergeCustomers(Command):
    """Fold ``duplicate_id`` into ``survivor_id``: the same customer registered twice.

    ``field_choices`` says, per profile field, whose value the survivor keeps; a field not
    named keeps the survivor's. Orders, complaints, surveys and opportunities of the
    duplicate count for the survivor in every read model; the duplicate's stream is closed.
    """

    survivor_id: UUID
    duplicate_id: UUID
    field_choices: dict[ProfileField, MergeSide] = Field(default_factory=dict)

    @field_validator("duplicate_id")
    @classmethod
    def _not_the_survivor(cls, duplicate_id: UUID, info: ValidationInfo) -> UUID:
        if duplicate_id == info.data.get("survivor_id"):
            raise ValueError("a customer cannot be merged into itself: ids must differ")
        return duplicate_id


class EraseCustomerPersonalData(CustomerCommand):
    """Destroy the customer's key (crypto-shredding, DESIGN §2.1): every personal value
    ever recorded for them reads back as erased, the log and its hash chains stay intact.
    Erasing a survivor erases the duplicates merged into it too. ``reason`` is stored in
    clear text: name the request (e.g. a ticket number), not the person."""

    reason: LongText


__all__ = [
    "AwardLoyaltyPoints",
    "ChangeRelationshipTier",
    "CompleteFollowUp",
    "CustomerCommand",
    "DisqualifyCustomer",
    "EraseCustomerPersonalData",
    "JoinMembership",
    "LeaveMembership",
    "MarkFollowUpMissed",
    "MergeCustomers",
    "RecordContact",
    "RecordReferral",
    "RecordSatisfactionSurvey",
    "RedeemLoyaltyPoints",
    "RegisterCustomer",
    "RequalifyCustomer",
    "ScheduleFollowUp",
    "UpdateCustomerProfile",
]
