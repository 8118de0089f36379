"""What every command carries besides its own fields."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
)

from domain.time import EARLIEST_DATE, LATEST_DATE, ensure_utc, refuse_number_as_instant

CommandId = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:/@-]+$")
]


def _plausible_instant(value: Any) -> Any:
    value = ensure_utc(value)
    if not EARLIEST_DATE <= value.date() <= LATEST_DATE:
        raise ValueError(f"must be between {EARLIEST_DATE} and {LATEST_DATE}")
    return value


Instant = Annotated[
    AwareDatetime, BeforeValidator(refuse_number_as_instant), AfterValidator(_plausible_instant)
]


class Command(BaseModel):
    """An intent, validated on construction: a malformed one never reaches a rule.

    ``command_id`` is the caller's idempotency key: the same id executed twice records
    nothing the second time and returns the first result. ``occurred_at`` sets business
    time for imports and migrations and needs the ``admin`` role.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False, str_strip_whitespace=True
    )

    # Set on commands that create a new aggregate rather than act on an existing one.
    creates: ClassVar[str | None] = None
    # False on commands whose decision never looks at a customer's personal values (name,
    # contact points, birthday): a batch of only such commands reads the streams it
    # fetches without decrypting them (an import of 70,000 orders spent a tenth of its
    # time decrypting the profiles of their customers).
    reads_personal_values: ClassVar[bool] = True
    # Fields that hold a customer's personal values, on the commands that have any.
    personal_fields: ClassVar[frozenset[str]] = frozenset()

    command_id: CommandId | None = None
    occurred_at: Instant | None = None

    def carries_personal_values(self) -> bool:
        """Were personal values given? Then this command's fingerprint is one of them,
        kept under that customer's key: an erasure shreds it (a hash of a name and a phone
        number could otherwise be checked against guesses, offline or by sending the
        command again)."""
        return bool(self.personal_fields & self.model_fields_set)

    @classmethod
    def type_name(cls) -> str:
        return cls.__name__
