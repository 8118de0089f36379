"""Settings a host may change per CRM: the approval thresholds, the retry bound."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from domain.approval import DEFAULT_APPROVAL_POLICY, ApprovalPolicy


class Settings(BaseModel):
    """Policies are versioned values: the version in force is recorded in the events they
    decide, so history stays explainable after a setting changes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approval_policy: ApprovalPolicy = DEFAULT_APPROVAL_POLICY
    max_attempts: int = Field(default=5, ge=1, le=100)
