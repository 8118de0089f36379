"""The Customer aggregate (客户档案): who the customer is and what we did with them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import wraps
from typing import Any, Concatenate, ParamSpec, Self, TypeVar
from uuid import UUID

from domain.aggregates.base import Aggregate, E, applies
from domain.context import CommandContext
from domain.errors import RuleViolation
from domain.events.customer import (
    PROFILE_FIELDS,
    CustomerContacted,
    CustomerDisqualified,
    CustomerPersonalDataErased,
    CustomerProfile,
    CustomerProfileUpdated,
    CustomerReferred,
    CustomerRegistered,
    CustomerRequalified,
    CustomersMerged,
    DimensionScore,
    FollowUpCompleted,
    FollowUpMissed,
    FollowUpScheduled,
    LoyaltyPointsEarned,
    LoyaltyPointsRedeemed,
    MembershipJoined,
    MembershipLeft,
    MergeSide,
    MovedFollowUp,
    ProfileField,
    ProfileValues,
    RelationshipTierChanged,
    SatisfactionSurveyed,
)
from domain.personal_data import ERASED_NAME, PERSONAL_PROFILE_FIELDS
from domain.satisfaction import displayed_gap, exact_gap, satisfaction_level
from domain.time import check_plausible, ensure_utc
from domain.values import ContactPoints
from domain.vocabulary import (
    ContactChannel,
    ContactDirection,
    ContactOutcome,
    FollowUpPurpose,
    FollowUpStatus,
    RelationshipTier,
)

# Profile fields that are never None: clearing them means emptying them.
CLEARED_VALUES: dict[str, Any] = {"contact": ContactPoints(), "attributes": {}}

P = ParamSpec("P")
R = TypeVar("R")


def _open_stream(
    command: Callable[Concatenate[Customer, P], R],
) -> Callable[Concatenate[Customer, P], R]:
    """A merged customer's stream is closed: its commands are refused before any other rule,
    so the caller learns to act on the survivor instead."""

    @wraps(command)
    def checked(customer: Customer, /, *args: P.args, **kwargs: P.kwargs) -> R:
        customer.ensure_not_merged()
        return command(customer, *args, **kwargs)

    return checked


@dataclass(slots=True)
class FollowUp:
    purpose: FollowUpPurpose
    due_at: datetime
    status: FollowUpStatus = FollowUpStatus.SCHEDULED


class Customer(Aggregate):
    starts_with = CustomerRegistered
    kind = "customer"

    def __init__(self, aggregate_id: UUID) -> None:
        super().__init__(aggregate_id)
        self.profile: CustomerProfile
        self.external_ref: str | None = None
        self.tier = RelationshipTier.TRANSACTIONAL
        self.is_member = False
        self.loyalty_points = 0
        self.referred_customers: set[UUID] = set()
        self.disqualified_reason: str | None = None
        self.follow_ups: dict[UUID, FollowUp] = {}
        self.contacts = 0
        self.survey_ids: set[UUID] = set()
        self.merged_into: UUID | None = None
        self.absorbed: list[UUID] = []
        self.personal_data_erased = False

    @property
    def is_disqualified(self) -> bool:
        return self.disqualified_reason is not None

    @property
    def is_merged(self) -> bool:
        return self.merged_into is not None

    def ensure_not_merged(self, *, field: str = "customer_id") -> None:
        """Refuse any new fact about a customer folded into another (rule ``customer_merged``);
        other aggregates ask it of the customer they are about to name."""
        if self.merged_into is not None:
            raise RuleViolation(
                "customer_merged",
                f"customer {self.id} was merged into {self.merged_into}; act on the survivor",
                field=field,
            )

    # ---- commands -----------------------------------------------------------------

    @classmethod
    def register(
        cls,
        context: CommandContext,
        *,
        customer_id: UUID,
        profile: CustomerProfile,
        tier: RelationshipTier = RelationshipTier.TRANSACTIONAL,
        external_ref: str | None = None,
    ) -> Self:
        if profile.birthday is not None:
            _check_birthday(profile.birthday, context)
        customer = cls(customer_id)
        customer._record(
            CustomerRegistered, context, profile=profile, tier=tier, external_ref=external_ref
        )
        return customer

    @_open_stream
    def update_profile(self, context: CommandContext, changes: dict[str, Any]) -> None:
        """Record only what really changes; an update that changes nothing is refused so
        that the history shows intent, not noise."""
        unknown = set(changes) - set(PROFILE_FIELDS)
        if unknown:
            raise RuleViolation(
                "profile_field_known", f"not profile fields: {sorted(unknown)}", field=min(unknown)
            )
        if changes.get("kind", "") is None or changes.get("name", "") is None:
            field = "kind" if changes.get("kind", "") is None else "name"
            raise RuleViolation("profile_field_required", f"{field} cannot be cleared", field=field)
        if changes.get("birthday") is not None:
            _check_birthday(changes["birthday"], context)
        self._ensure_personal_data_kept(changes)
        changes = {
            name: (CLEARED_VALUES[name] if value is None and name in CLEARED_VALUES else value)
            for name, value in changes.items()
        }
        current = self.profile.model_dump()
        merged = CustomerProfile.model_validate({**current, **changes})
        effective = {
            name: getattr(merged, name)
            for name in PROFILE_FIELDS
            if getattr(merged, name) != getattr(self.profile, name)
        }
        if not effective:
            raise RuleViolation("profile_update_changes_something", "the update changes no field")
        self._record(
            CustomerProfileUpdated,
            context,
            changed_fields=tuple(effective),
            **{
                name: value
                for name, value in effective.items()
                if value is not None and value != CLEARED_VALUES.get(name)
            },
        )

    @_open_stream
    def record_contact(
        self,
        context: CommandContext,
        *,
        channel: ContactChannel,
        direction: ContactDirection,
        summary: str,
        outcome: ContactOutcome | None = None,
        opportunity_id: UUID | None = None,
    ) -> None:
        self._record(
            CustomerContacted,
            context,
            channel=channel,
            direction=direction,
            summary=summary,
            outcome=outcome,
            opportunity_id=opportunity_id,
        )

    @_open_stream
    def schedule_follow_up(
        self,
        context: CommandContext,
        *,
        follow_up_id: UUID,
        purpose: FollowUpPurpose,
        due_at: datetime,
        assignee_id: str | None = None,
        note: str | None = None,
    ) -> None:
        due_at = ensure_utc(due_at)
        check_plausible(due_at.date(), field="due_at")
        if follow_up_id in self.follow_ups:
            raise RuleViolation(
                "follow_up_id_unique",
                f"follow-up {follow_up_id} already exists",
                field="follow_up_id",
            )
        if due_at < self._business_time(context):
            raise RuleViolation(
                "follow_up_due_not_in_past",
                f"due_at {due_at.isoformat()} is before the time it is scheduled",
                field="due_at",
            )
        self._record(
            FollowUpScheduled,
            context,
            follow_up_id=follow_up_id,
            purpose=purpose,
            due_at=due_at,
            assignee_id=assignee_id,
            note=note,
        )

    @_open_stream
    def complete_follow_up(
        self, context: CommandContext, *, follow_up_id: UUID, note: str | None = None
    ) -> None:
        self._open_follow_up(follow_up_id)
        self._record(FollowUpCompleted, context, follow_up_id=follow_up_id, note=note)

    @_open_stream
    def mark_follow_up_missed(
        self, context: CommandContext, *, follow_up_id: UUID, reason: str | None = None
    ) -> None:
        self._open_follow_up(follow_up_id)
        self._record(FollowUpMissed, context, follow_up_id=follow_up_id, reason=reason)

    @_open_stream
    def change_relationship_tier(
        self, context: CommandContext, *, tier: RelationshipTier, reason: str | None = None
    ) -> None:
        self._ensure_qualified("change the relationship tier")
        if tier == self.tier:
            raise RuleViolation(
                "tier_changes", f"the relationship tier is already {tier.value}", field="tier"
            )
        self._record(
            RelationshipTierChanged, context, from_tier=self.tier, to_tier=tier, reason=reason
        )

    @_open_stream
    def join_membership(
        self,
        context: CommandContext,
        *,
        membership_number: str | None = None,
        program: str | None = None,
    ) -> None:
        self._ensure_qualified("join the membership")
        if self.is_member:
            raise RuleViolation("membership_not_joined_twice", "the customer is already a member")
        self._record(
            MembershipJoined, context, membership_number=membership_number, program=program
        )

    @_open_stream
    def leave_membership(self, context: CommandContext, *, reason: str | None = None) -> None:
        if not self.is_member:
            raise RuleViolation("membership_left_only_by_members", "the customer is not a member")
        self._record(MembershipLeft, context, reason=reason)

    @_open_stream
    def award_loyalty_points(
        self, context: CommandContext, *, points: int, reason: str | None = None
    ) -> None:
        self._ensure_qualified("earn loyalty points")
        self._check_points(points)
        self._record(
            LoyaltyPointsEarned,
            context,
            points=points,
            reason=reason,
            balance_after=self.loyalty_points + points,
        )

    @_open_stream
    def redeem_loyalty_points(
        self, context: CommandContext, *, points: int, reason: str | None = None
    ) -> None:
        self._check_points(points)
        if points > self.loyalty_points:
            raise RuleViolation(
                "loyalty_points_never_negative",
                f"cannot redeem {points} points: the balance is {self.loyalty_points}",
                field="points",
            )
        self._record(
            LoyaltyPointsRedeemed,
            context,
            points=points,
            reason=reason,
            balance_after=self.loyalty_points - points,
        )

    @_open_stream
    def record_referral(self, context: CommandContext, *, referred_customer_id: UUID) -> None:
        self._ensure_qualified("refer customers")
        if referred_customer_id == self.id:
            raise RuleViolation(
                "referral_not_self", "a customer cannot refer itself", field="referred_customer_id"
            )
        if referred_customer_id in self.referred_customers:
            raise RuleViolation(
                "referral_recorded_once",
                f"the referral of {referred_customer_id} is already recorded",
                field="referred_customer_id",
            )
        self._record(CustomerReferred, context, referred_customer_id=referred_customer_id)

    @_open_stream
    def disqualify(self, context: CommandContext, *, reason: str) -> None:
        if self.is_disqualified:
            raise RuleViolation("disqualify_once", "the customer is already disqualified")
        self._record(CustomerDisqualified, context, reason=reason)

    @_open_stream
    def requalify(self, context: CommandContext, *, reason: str | None = None) -> None:
        if not self.is_disqualified:
            raise RuleViolation("requalify_only_disqualified", "the customer is not disqualified")
        self._record(CustomerRequalified, context, reason=reason)

    @_open_stream
    def record_satisfaction_survey(
        self,
        context: CommandContext,
        *,
        survey_id: UUID,
        scores: tuple[DimensionScore, ...],
        nps: int | None = None,
        comment: str | None = None,
    ) -> None:
        if not scores:
            raise RuleViolation(
                "survey_scored", "a survey needs at least one score", field="scores"
            )
        if survey_id in self.survey_ids:
            raise RuleViolation(
                "survey_id_unique", f"survey {survey_id} is already recorded", field="survey_id"
            )
        gap = exact_gap([(s.expected, s.perceived) for s in scores])
        self._record(
            SatisfactionSurveyed,
            context,
            survey_id=survey_id,
            scores=scores,
            nps=nps,
            gap=displayed_gap(gap),
            level=satisfaction_level(gap),
            comment=comment,
        )

    def absorb(
        self,
        context: CommandContext,
        duplicate: Customer,
        field_choices: Mapping[ProfileField, MergeSide],
    ) -> None:
        """Fold ``duplicate`` (another record of the same customer) into this one.

        The survivor takes the duplicate's value of each profile field chosen as
        ``"duplicate"`` and keeps its own elsewhere; it also takes over the duplicate's
        loyalty balance, its follow-ups still scheduled, its survey ids and the referrals it
        recorded. Tier, membership and qualification stay the survivor's: they are
        decisions about the relationship, not facts to add up.
        """
        if duplicate.id == self.id:
            raise RuleViolation(
                "merge_not_into_itself",
                "a customer cannot be merged into itself",
                field="duplicate_id",
            )
        self.ensure_not_merged(field="survivor_id")
        duplicate.ensure_not_merged(field="duplicate_id")
        if self.personal_data_erased and not duplicate.personal_data_erased:
            # Its personal data would outlive the erasure: erasing the survivor again is
            # refused, and erasing a merged duplicate too (erase its survivor).
            raise RuleViolation(
                "personal_data_erased",
                f"the personal data of customer {self.id} is erased: erase the duplicate's "
                "before folding it in",
                field="survivor_id",
            )
        for name, side in field_choices.items():
            if name not in PROFILE_FIELDS:
                raise RuleViolation(
                    "profile_field_known", f"not a profile field: {name}", field=name
                )
            if side not in ("survivor", "duplicate"):
                raise RuleViolation(
                    "merge_side_known",
                    f"{name}: choose survivor or duplicate, not {side!r}",
                    field=name,
                )
        taken = {
            name: getattr(duplicate.profile, name)
            for name, side in field_choices.items()
            if side == "duplicate"
            and getattr(duplicate.profile, name) != getattr(self.profile, name)
        }
        # Neither side may take personal values from, or give them to, an erased record.
        for record in (self, duplicate):
            record._ensure_personal_data_kept(set(taken), field="field_choices")
        payload: dict[str, Any] = {
            "survivor_id": self.id,
            "duplicate_id": duplicate.id,
            "field_choices": dict(field_choices),
            "taken": ProfileValues(
                fields=tuple(taken),
                **{
                    name: value
                    for name, value in taken.items()
                    if value != CLEARED_VALUES.get(name)
                },
            ),
            "loyalty_points": duplicate.loyalty_points,
            "follow_ups": tuple(
                MovedFollowUp(follow_up_id=follow_up_id, purpose=f.purpose, due_at=f.due_at)
                for follow_up_id, f in duplicate.follow_ups.items()
                if f.status is FollowUpStatus.SCHEDULED
            ),
            "survey_ids": tuple(sorted(duplicate.survey_ids, key=str)),
            "referred_customer_ids": tuple(sorted(duplicate.referred_customers, key=str)),
        }
        # Both streams must accept the business time before either records: never half a merge.
        self._business_time(context)
        duplicate._business_time(context)
        self._record(CustomersMerged, context, **payload)
        duplicate._record(CustomersMerged, context, **payload)

    @_open_stream
    def erase_personal_data(self, context: CommandContext, *, reason: str) -> list[UUID]:
        """Erase this customer's personal data, and that of every duplicate merged into it
        (older records of the same person, whose streams are closed; DESIGN §2.1).

        Only the events are recorded here; the store destroys each erased customer's key in
        the same transaction. Returns the duplicates to erase too, for the caller to load
        and pass to ``erase_as_duplicate``: the aggregate knows their ids, not their state.
        """
        if self.personal_data_erased:
            raise RuleViolation(
                "personal_data_erased",
                f"the personal data of customer {self.id} is already erased",
                field="customer_id",
            )
        self._record(CustomerPersonalDataErased, context, reason=reason)
        return list(self.absorbed)

    def erase_as_duplicate(
        self, context: CommandContext, *, survivor_id: UUID, reason: str
    ) -> list[UUID]:
        """The erasure of ``survivor_id`` reaching this duplicate merged into it: recorded
        on the closed stream (the one fact it still takes). Returns its own duplicates."""
        if self.merged_into is None or self.personal_data_erased:
            return []
        super()._record(CustomerPersonalDataErased, context, reason=reason, survivor_id=survivor_id)
        return list(self.absorbed)

    # ---- rules shared by commands -------------------------------------------------

    def _ensure_personal_data_kept(
        self, changes: Iterable[str], *, field: str | None = None
    ) -> None:
        """After erasure nothing personal is recorded for the customer again (rule
        ``personal_data_erased``): its key is gone, and a new one would start a new record."""
        if not self.personal_data_erased:
            return
        personal = sorted(PERSONAL_PROFILE_FIELDS.intersection(changes))
        if personal:
            raise RuleViolation(
                "personal_data_erased",
                f"the personal data of customer {self.id} was erased: "
                f"{', '.join(personal)} cannot be recorded again",
                field=field or personal[0],
            )

    def _record(self, event_type: type[E], context: CommandContext, **payload: Any) -> E:
        """The last guard of a closed stream, whatever command reaches it."""
        self.ensure_not_merged()
        return super()._record(event_type, context, **payload)

    def _ensure_qualified(self, action: str) -> None:
        if self.is_disqualified:
            raise RuleViolation(
                "customer_qualified", f"a disqualified customer cannot {action}; requalify first"
            )

    def _open_follow_up(self, follow_up_id: UUID) -> FollowUp:
        follow_up = self.follow_ups.get(follow_up_id)
        if follow_up is None:
            raise RuleViolation(
                "follow_up_exists",
                f"no follow-up {follow_up_id} was scheduled",
                field="follow_up_id",
            )
        if follow_up.status is not FollowUpStatus.SCHEDULED:
            raise RuleViolation(
                "follow_up_open",
                f"follow-up {follow_up_id} is already {follow_up.status.value}",
                field="follow_up_id",
            )
        return follow_up

    @staticmethod
    def _check_points(points: int) -> None:
        if points <= 0:
            raise RuleViolation(
                "loyalty_points_positive", "points must be above zero", field="points"
            )

    # ---- state --------------------------------------------------------------------

    @applies(CustomerRegistered)
    def _registered(self, event: CustomerRegistered) -> None:
        self.profile = event.profile
        self.tier = event.tier
        self.external_ref = event.external_ref

    @applies(CustomerProfileUpdated)
    def _profile_updated(self, event: CustomerProfileUpdated) -> None:
        changed: dict[str, Any] = {name: getattr(event, name) for name in event.changed_fields}
        for name, empty in CLEARED_VALUES.items():
            if name in changed and changed[name] is None:
                changed[name] = empty
        self.profile = self.profile.model_copy(update=changed)

    @applies(CustomerContacted)
    def _contacted(self, event: CustomerContacted) -> None:
        self.contacts += 1

    @applies(FollowUpScheduled)
    def _follow_up_scheduled(self, event: FollowUpScheduled) -> None:
        self.follow_ups[event.follow_up_id] = FollowUp(event.purpose, event.due_at)

    @applies(FollowUpCompleted)
    def _follow_up_completed(self, event: FollowUpCompleted) -> None:
        self.follow_ups[event.follow_up_id].status = FollowUpStatus.COMPLETED

    @applies(FollowUpMissed)
    def _follow_up_missed(self, event: FollowUpMissed) -> None:
        self.follow_ups[event.follow_up_id].status = FollowUpStatus.MISSED

    @applies(RelationshipTierChanged)
    def _tier_changed(self, event: RelationshipTierChanged) -> None:
        self.tier = event.to_tier

    @applies(MembershipJoined)
    def _joined(self, event: MembershipJoined) -> None:
        self.is_member = True

    @applies(MembershipLeft)
    def _left(self, event: MembershipLeft) -> None:
        self.is_member = False

    @applies(LoyaltyPointsEarned)
    def _points_earned(self, event: LoyaltyPointsEarned) -> None:
        self.loyalty_points = event.balance_after

    @applies(LoyaltyPointsRedeemed)
    def _points_redeemed(self, event: LoyaltyPointsRedeemed) -> None:
        self.loyalty_points = event.balance_after

    @applies(CustomerReferred)
    def _referred(self, event: CustomerReferred) -> None:
        self.referred_customers.add(event.referred_customer_id)

    @applies(CustomerDisqualified)
    def _disqualified(self, event: CustomerDisqualified) -> None:
        self.disqualified_reason = event.reason

    @applies(CustomerRequalified)
    def _requalified(self, event: CustomerRequalified) -> None:
        self.disqualified_reason = None

    @applies(SatisfactionSurveyed)
    def _surveyed(self, event: SatisfactionSurveyed) -> None:
        self.survey_ids.add(event.survey_id)

    @applies(CustomersMerged)
    def _merged(self, event: CustomersMerged) -> None:
        if not event.on_survivor:
            self.merged_into = event.survivor_id
            self.loyalty_points = 0  # moved to the survivor
            return
        taken: dict[str, Any] = {name: getattr(event.taken, name) for name in event.taken.fields}
        for name, empty in CLEARED_VALUES.items():
            if name in taken and taken[name] is None:
                taken[name] = empty
        self.profile = self.profile.model_copy(update=taken)
        self.loyalty_points += event.loyalty_points
        for moved in event.follow_ups:
            self.follow_ups[moved.follow_up_id] = FollowUp(moved.purpose, moved.due_at)
        self.survey_ids.update(event.survey_ids)
        self.referred_customers.update(event.referred_customer_ids)
        self.absorbed.append(event.duplicate_id)

    @applies(CustomerPersonalDataErased)
    def _personal_data_erased(self, event: CustomerPersonalDataErased) -> None:
        self.profile = self.profile.model_copy(
            update={"name": ERASED_NAME, "contact": ContactPoints(), "birthday": None}
        )
        self.personal_data_erased = True


def _check_birthday(birthday: date, context: CommandContext) -> None:
    check_plausible(birthday, field="birthday")
    if birthday > context.business_time.date():
        raise RuleViolation(
            "birthday_not_in_future", "a birthday cannot be in the future", field="birthday"
        )
