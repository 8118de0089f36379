"""Read models built from the event log (lifecycle, satisfaction, retention, operations).

``all_projections()`` is the set the runner keeps up to date; each projection owns its
tables and is rebuilt when its version changes.
"""

from __future__ import annotations

from projections.base import Projection
from projections.complaint_cases import ComplaintCasesProjection
from projections.follow_ups import FollowUpsProjection
from projections.lifecycle import CustomerLifecycleProjection
from projections.opportunity_pipeline import OpportunityPipelineProjection
from projections.order_approvals import OrderApprovalsProjection
from projections.purchases import CustomerPurchasesProjection
from projections.satisfaction import SatisfactionHistoryProjection


def all_projections() -> list[Projection]:
    return [
        CustomerPurchasesProjection(),
        CustomerLifecycleProjection(),
        SatisfactionHistoryProjection(),
        OpportunityPipelineProjection(),
        ComplaintCasesProjection(),
        OrderApprovalsProjection(),
        FollowUpsProjection(),
    ]


__all__ = [
    "ComplaintCasesProjection",
    "CustomerLifecycleProjection",
    "CustomerPurchasesProjection",
    "FollowUpsProjection",
    "OpportunityPipelineProjection",
    "OrderApprovalsProjection",
    "Projection",
    "SatisfactionHistoryProjection",
    "all_projections",
]
