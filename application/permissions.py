"""The role permission matrix: which roles may run which command.

``admin`` may run everything; ``auditor`` may run nothing (auditors read and replay, they
never change state). Business time (``occurred_at``) is reserved to ``admin`` because it
rewrites when something is said to have happened. The README prints this matrix.
"""

from __future__ import annotations

from application.actor import Actor, Role
from application.commands import base as _base
from application.commands.complaint import (
    AssessComplaint,
    AssignComplaint,
    CloseComplaint,
    EscalateComplaint,
    FileComplaint,
    RecordComplaintFollowUp,
    ReopenComplaint,
    ResolveComplaint,
)
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
from application.commands.opportunity import (
    ChangeOpportunityStage,
    EvaluateOpportunity,
    LoseOpportunity,
    OpenOpportunity,
    QuoteOpportunity,
    ReopenOpportunity,
    WinOpportunity,
)
from application.commands.order import (
    ApproveOrderStep,
    CancelOrder,
    ChangeOrderLines,
    DraftOrder,
    FulfillOrder,
    ImportOrder,
    RecordOrderPayment,
    RejectOrder,
    ReviseOrder,
    SubmitOrderForApproval,
)
from application.errors import PermissionDenied

R = Role
CUSTOMER_FACING = frozenset(
    {R.SALES_REP, R.SALES_MANAGER, R.DIRECTOR, R.SERVICE_AGENT, R.SERVICE_MANAGER}
)
MANAGERS = frozenset({R.SALES_MANAGER, R.SERVICE_MANAGER, R.DIRECTOR})
SALES = frozenset({R.SALES_REP, R.SALES_MANAGER, R.DIRECTOR})
SALES_MANAGERS = frozenset({R.SALES_MANAGER, R.DIRECTOR})
APPROVERS = frozenset({R.SALES_MANAGER, R.FINANCE, R.DIRECTOR})
FULFILMENT = frozenset({R.SALES_REP, R.SALES_MANAGER, R.DIRECTOR, R.SERVICE_MANAGER})
ADMIN_ONLY: frozenset[Role] = frozenset()
SERVICE = frozenset({R.SERVICE_AGENT, R.SERVICE_MANAGER})

PERMISSIONS: dict[type[_base.Command], frozenset[Role]] = {
    RegisterCustomer: CUSTOMER_FACING,
    UpdateCustomerProfile: CUSTOMER_FACING,
    RecordContact: CUSTOMER_FACING,
    ScheduleFollowUp: CUSTOMER_FACING,
    CompleteFollowUp: CUSTOMER_FACING,
    MarkFollowUpMissed: CUSTOMER_FACING,
    ChangeRelationshipTier: SALES_MANAGERS,
    JoinMembership: CUSTOMER_FACING,
    LeaveMembership: CUSTOMER_FACING,
    AwardLoyaltyPoints: MANAGERS,
    RedeemLoyaltyPoints: CUSTOMER_FACING,
    RecordReferral: SALES,
    DisqualifyCustomer: SALES_MANAGERS,
    RequalifyCustomer: SALES_MANAGERS,
    RecordSatisfactionSurvey: CUSTOMER_FACING,
    MergeCustomers: SALES_MANAGERS,
    # Erasure cannot be undone: a director's decision (and admin's), not a sales task.
    EraseCustomerPersonalData: frozenset({R.DIRECTOR}),
    OpenOpportunity: SALES,
    EvaluateOpportunity: SALES,
    ChangeOpportunityStage: SALES,
    QuoteOpportunity: SALES,
    WinOpportunity: SALES,
    LoseOpportunity: SALES,
    ReopenOpportunity: SALES_MANAGERS,
    DraftOrder: SALES,
    ChangeOrderLines: SALES,
    SubmitOrderForApproval: SALES,
    ApproveOrderStep: APPROVERS,
    RejectOrder: APPROVERS,
    ReviseOrder: SALES,
    FulfillOrder: FULFILMENT,
    RecordOrderPayment: frozenset({R.FINANCE}),
    CancelOrder: SALES_MANAGERS | {R.FINANCE},
    ImportOrder: ADMIN_ONLY,
    FileComplaint: CUSTOMER_FACING,
    AssessComplaint: SERVICE,
    AssignComplaint: frozenset({R.SERVICE_MANAGER, R.DIRECTOR}),
    ResolveComplaint: SERVICE,
    RecordComplaintFollowUp: SERVICE,
    CloseComplaint: SERVICE,
    ReopenComplaint: SERVICE,
    EscalateComplaint: CUSTOMER_FACING,
}


def allowed_roles(command_type: type[_base.Command]) -> frozenset[Role]:
    return PERMISSIONS.get(command_type, frozenset()) | {R.ADMIN}


def authorise(actor: Actor, command: _base.Command) -> None:
    """Raise ``PermissionDenied`` unless one of the actor's roles may run this command."""
    command_type = type(command)
    if command_type not in PERMISSIONS:
        raise PermissionDenied(
            actor.id, command.type_name(), "no role may run it (unknown command)"
        )
    allowed = allowed_roles(command_type)
    if not actor.roles & allowed:
        needed = ", ".join(sorted(allowed))
        raise PermissionDenied(
            actor.id, command.type_name(), f"it needs one of the roles: {needed}"
        )
    if command.occurred_at is not None and R.ADMIN not in actor.roles:
        raise PermissionDenied(
            actor.id,
            f"set occurred_at on {command.type_name()}",
            "business time needs the admin role",
        )


def permission_matrix() -> list[tuple[str, list[str]]]:
    """(command, roles) rows, for documentation."""
    return [(cls.__name__, sorted(allowed_roles(cls))) for cls in PERMISSIONS]
