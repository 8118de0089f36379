"""Settings a host may change per CRM: approval thresholds, complaint SLAs, the retry bound."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from domain.approval import DEFAULT_APPROVAL_POLICY, ApprovalPolicy
from domain.sla import DEFAULT_SLA_POLICY, SlaPolicy


class Settings(BaseModel):
    """Policies are versioned values: the version in force is recorded in the events they
    decide, so history stays explainable after a setting changes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approval_policy: ApprovalPolicy = DEFAULT_APPROVAL_POLICY
    sla_policy: SlaPolicy = DEFAULT_SLA_POLICY
    max_attempts: int = Field(default=5, ge=1, le=100)
    # A stream is snapshotted each time it grows past a multiple of this many events (0: never).
    snapshot_interval: int = Field(default=100, ge=0)
    # Concurrent callers of execute share one transaction (application/group_commit.py).
    group_commit: bool = False
