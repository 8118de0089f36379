"""Every command a host can execute, one per intent, named in the imperative."""

from application.commands.base import Command
from application.commands.customer import (
    AwardLoyaltyPoints,
    ChangeRelationshipTier,
    CompleteFollowUp,
    CustomerCommand,
    DisqualifyCustomer,
    JoinMembership,
    LeaveMembership,
    MarkFollowUpMissed,
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
    OpportunityCommand,
    QuoteOpportunity,
    ReopenOpportunity,
    WinOpportunity,
)
from domain.events.customer import DimensionScore
from domain.lines import PricedLine
from domain.values import Address, Money

__all__ = [
    "Address",
    "AwardLoyaltyPoints",
    "ChangeOpportunityStage",
    "ChangeRelationshipTier",
    "Command",
    "CompleteFollowUp",
    "CustomerCommand",
    "DimensionScore",
    "DisqualifyCustomer",
    "EvaluateOpportunity",
    "JoinMembership",
    "LeaveMembership",
    "LoseOpportunity",
    "MarkFollowUpMissed",
    "Money",
    "OpenOpportunity",
    "OpportunityCommand",
    "PricedLine",
    "QuoteOpportunity",
    "RecordContact",
    "RecordReferral",
    "RecordSatisfactionSurvey",
    "RedeemLoyaltyPoints",
    "RegisterCustomer",
    "ReopenOpportunity",
    "RequalifyCustomer",
    "ScheduleFollowUp",
    "UpdateCustomerProfile",
    "WinOpportunity",
]
