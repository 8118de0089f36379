"""Who is acting: an authenticated id and the roles the host granted it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from domain.context import CommandContext


class Role(StrEnum):
    SALES_REP = "sales_rep"
    SALES_MANAGER = "sales_manager"
    FINANCE = "finance"
    DIRECTOR = "director"
    SERVICE_AGENT = "service_agent"
    SERVICE_MANAGER = "service_manager"
    ADMIN = "admin"
    AUDITOR = "auditor"


class Actor(BaseModel):
    """The host authenticates; crm-core authorises. The id is recorded on every event, so it
    should be an opaque account id, not a person's name or e-mail."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[
        str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:@/-]+$")
    ]
    roles: frozenset[Role] = Field(default_factory=frozenset)

    def context(
        self, *, now: datetime, command_id: str, occurred_at: datetime | None
    ) -> CommandContext:
        """What the domain is told about one execution: who, when, under which key."""
        return CommandContext(
            actor_id=self.id,
            now=now,
            command_id=command_id,
            occurred_at=occurred_at,
            actor_roles=frozenset(role.value for role in self.roles),
        )
