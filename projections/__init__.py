"""Read models built from the event log (lifecycle, satisfaction, retention, operations).

``all_projections()`` is the set the runner keeps up to date; each projection owns its
tables and is rebuilt when its version changes.
"""

from __future__ import annotations

from projections.base import Projection
from projections.opportunity_pipeline import OpportunityPipelineProjection


def all_projections() -> list[Projection]:
    return [OpportunityPipelineProjection()]


__all__ = ["OpportunityPipelineProjection", "Projection", "all_projections"]
