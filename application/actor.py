"""Who is acting: an authenticated id and the roles the host granted it."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


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
