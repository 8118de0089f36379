"""Events of the Customer aggregate (客户档案)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, ClassVar, Literal, get_args
from uuid import UUID

from pydantic import BaseModel, Field, field_validator, model_validator

from domain.events.base import DomainEvent
from domain.values import Code, ContactPoints, LongText, Name, ShortText, ValueObject
from domain.vocabulary import (
    ContactChannel,
    ContactDirection,
    ContactOutcome,
    CustomerKind,
    FollowUpPurpose,
    ManagementClass,
    MarketingType,
    RelationshipTier,
    SatisfactionDimension,
    SatisfactionLevel,
)

AttributeKey = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Attributes = Annotated[dict[AttributeKey, ShortText], Field(max_length=50)]
Score = Annotated[int, Field(strict=True, ge=1, le=10)]

ProfileField = Literal[
    "kind",
    "name",
    "contact",
    "birthday",
    "industry",
    "size",
    "region",
    "source_channel",
    "owner_id",
    "attributes",
    "management_class",
    "marketing_type",
]
PROFILE_FIELDS: tuple[str, ...] = get_args(ProfileField)


class CustomerEvent(DomainEvent):
    abstract: ClassVar[bool] = True


class CustomerProfile(ValueObject):
    """The descriptive part of a customer, as registered or later updated."""

    kind: CustomerKind
    name: Name
    contact: ContactPoints = ContactPoints()
    birthday: date | None = None
    industry: ShortText | None = None
    size: ShortText | None = None
    region: ShortText | None = None
    source_channel: ShortText | None = None
    owner_id: ShortText | None = None
    attributes: Attributes = Field(default_factory=dict)
    management_class: ManagementClass | None = None
    marketing_type: MarketingType | None = None


class CustomerRegistered(CustomerEvent):
    profile: CustomerProfile
    tier: RelationshipTier = RelationshipTier.TRANSACTIONAL
    external_ref: Code | None = None


class ProfileFieldValues(BaseModel):
    """Every profile field, each optional: the values a change or a merge carries (only
    those it lists; a listed field with no value is cleared)."""

    kind: CustomerKind | None = None
    name: Name | None = None
    contact: ContactPoints | None = None
    birthday: date | None = None
    industry: ShortText | None = None
    size: ShortText | None = None
    region: ShortText | None = None
    source_channel: ShortText | None = None
    owner_id: ShortText | None = None
    attributes: Attributes | None = None
    management_class: ManagementClass | None = None
    marketing_type: MarketingType | None = None


class CustomerProfileUpdated(CustomerEvent, ProfileFieldValues):
    """Carries only the fields that changed; a listed field with no value was cleared."""

    changed_fields: tuple[ProfileField, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _only_changed_fields_carry_values(self) -> CustomerProfileUpdated:
        for name in PROFILE_FIELDS:
            if name not in self.changed_fields and getattr(self, name) is not None:
                raise ValueError(f"{name} has a value but is not listed in changed_fields")
        return self


class CustomerContacted(CustomerEvent):
    channel: ContactChannel
    direction: ContactDirection
    summary: LongText
    outcome: ContactOutcome | None = None
    opportunity_id: UUID | None = None


class FollowUpScheduled(CustomerEvent):
    follow_up_id: UUID
    purpose: FollowUpPurpose
    due_at: datetime
    assignee_id: ShortText | None = None
    note: LongText | None = None


class FollowUpCompleted(CustomerEvent):
    follow_up_id: UUID
    note: LongText | None = None


class FollowUpMissed(CustomerEvent):
    follow_up_id: UUID
    reason: LongText | None = None


class RelationshipTierChanged(CustomerEvent):
    from_tier: RelationshipTier
    to_tier: RelationshipTier
    reason: LongText | None = None


class MembershipJoined(CustomerEvent):
    membership_number: Code | None = None
    program: ShortText | None = None


class MembershipLeft(CustomerEvent):
    reason: LongText | None = None


class LoyaltyPointsEarned(CustomerEvent):
    points: int = Field(gt=0)
    reason: LongText | None = None
    balance_after: int = Field(ge=0)


class LoyaltyPointsRedeemed(CustomerEvent):
    points: int = Field(gt=0)
    reason: LongText | None = None
    balance_after: int = Field(ge=0)


class CustomerReferred(CustomerEvent):
    """Recorded on the referrer's stream: referring is what the referrer did."""

    referred_customer_id: UUID


class CustomerDisqualified(CustomerEvent):
    reason: LongText


class CustomerRequalified(CustomerEvent):
    reason: LongText | None = None


class DimensionScore(ValueObject):
    dimension: SatisfactionDimension
    expected: Score
    perceived: Score


def one_score_per_dimension(
    cls: type, scores: tuple[DimensionScore, ...]
) -> tuple[DimensionScore, ...]:
    """A survey scores each dimension at most once (checked on commands and on events)."""
    dimensions = [score.dimension for score in scores]
    if len(set(dimensions)) != len(dimensions):
        raise ValueError("each dimension may be scored once per survey")
    return scores


class SatisfactionSurveyed(CustomerEvent):
    survey_id: UUID
    scores: tuple[DimensionScore, ...] = Field(min_length=1, max_length=7)
    nps: int | None = Field(default=None, ge=0, le=10)
    gap: Decimal
    level: SatisfactionLevel
    comment: LongText | None = None

    _one_score_per_dimension = field_validator("scores")(one_score_per_dimension)


MergeSide = Literal["survivor", "duplicate"]


class ProfileValues(ValueObject, ProfileFieldValues):
    """Some profile fields and their values; a listed field without a value is empty."""

    fields: tuple[ProfileField, ...] = ()

    @model_validator(mode="after")
    def _only_listed_fields_carry_values(self) -> ProfileValues:
        for name in PROFILE_FIELDS:
            if name not in self.fields and getattr(self, name) is not None:
                raise ValueError(f"{name} has a value but is not listed in fields")
        return self


class MovedFollowUp(ValueObject):
    """A follow-up of the duplicate still scheduled at the merge: the survivor's from then."""

    follow_up_id: UUID
    purpose: FollowUpPurpose
    due_at: datetime


class CustomersMerged(CustomerEvent):
    """A duplicate record folded into the survivor (DESIGN §2.1).

    Recorded with the same payload on both streams, in one transaction: on the survivor's
    it takes over what moves, on the duplicate's it closes the stream, which stays readable
    and is never deleted. What moves is written here rather than recomputed on replay, so
    that the survivor can be rebuilt from its own stream alone: the chosen profile values
    (``taken``, only those that differ), the loyalty balance, the follow-ups still
    scheduled, the survey ids and the referrals the duplicate recorded. Orders, complaints
    and opportunities keep naming the duplicate; read models attribute them to the survivor.
    """

    survivor_id: UUID
    duplicate_id: UUID
    field_choices: dict[ProfileField, MergeSide] = Field(default_factory=dict)
    taken: ProfileValues = ProfileValues()
    loyalty_points: int = Field(default=0, ge=0)
    follow_ups: tuple[MovedFollowUp, ...] = ()
    survey_ids: tuple[UUID, ...] = ()
    referred_customer_ids: tuple[UUID, ...] = ()

    @model_validator(mode="after")
    def _between_two_customers_on_one_of_their_streams(self) -> CustomersMerged:
        if self.survivor_id == self.duplicate_id:
            raise ValueError("a customer cannot be merged into itself")
        if self.aggregate_id not in (self.survivor_id, self.duplicate_id):
            raise ValueError("a merge is recorded on the survivor's or the duplicate's stream")
        return self

    @property
    def on_survivor(self) -> bool:
        """True on the survivor's copy: the one read models act on (the other is ignored)."""
        return self.aggregate_id == self.survivor_id


class CustomerPersonalDataErased(CustomerEvent):
    """The customer's key was destroyed with this event (DESIGN §2.1, crypto-shredding).

    Every personal value ever stored for the customer was encrypted with that key, so from
    here on it reads back as erased, in old events too; the log itself is unchanged and its
    hash chains still verify. ``survivor_id`` is set when the erasure of a survivor
    reached a duplicate merged into it: the same person's older record.
    """

    reason: LongText
    survivor_id: UUID | None = None
