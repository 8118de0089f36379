"""Chinese display labels for the codes that appear in reports, gathered from the domain's
vocabularies (DESIGN.md's terms) so that a report column names one mapping."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from domain.approval import ApprovalNode
from domain.complaint_vocabulary import COMPLAINT_ZH_LABELS, ComplaintSeverity
from domain.lifecycle import COMPLAINT_PAST_SLA, LATEST_SATISFACTION_DISSATISFIED
from domain.lifecycle_vocabulary import LIFECYCLE_ZH_LABELS
from domain.retention import RFM_SEGMENT_ZH, AbcClass
from domain.vocabulary import (
    FollowUpPurpose,
    OpportunityStage,
    RelationshipTier,
    SatisfactionLevel,
)

STAGES: Mapping[str, str] = dict(LIFECYCLE_ZH_LABELS)
OPPORTUNITY_STAGES: Mapping[str, str] = {s.value: s.zh for s in OpportunityStage}
LEVELS: Mapping[str, str] = {level.value: level.zh for level in SatisfactionLevel}
TIERS: Mapping[str, str] = {t.value: t.zh for t in RelationshipTier}
PURPOSES: Mapping[str, str] = {p.value: p.zh for p in FollowUpPurpose}
SEGMENTS: Mapping[str, str] = dict(RFM_SEGMENT_ZH)
ABC_CLASSES: Mapping[str, str] = {c.value: c.zh for c in AbcClass}
NODES: Mapping[str, str] = {n.value: n.zh for n in ApprovalNode}
SEVERITIES: Mapping[str, str] = {s.value: s.zh for s in ComplaintSeverity}
COMPLAINT_TERMS: Mapping[str, str] = dict(COMPLAINT_ZH_LABELS)

_FIXED_REASONS = {
    LATEST_SATISFACTION_DISSATISFIED: "最近一次满意度为不满意",
    COMPLAINT_PAST_SLA: "投诉处理超过服务时限",
}
_NO_PURCHASE = re.compile(r"no_purchase_for_(\d+)_days")


def reason_zh(code: str) -> str:
    """The churn-warning (流失预警) reason in Chinese; the silence threshold is a setting,
    so its code carries the number of days."""
    if code in _FIXED_REASONS:
        return _FIXED_REASONS[code]
    match = _NO_PURCHASE.fullmatch(code)
    return f"超过{match[1]}天未购买" if match else code


def reasons(codes: Iterable[str]) -> Mapping[str, str]:
    return {code: reason_zh(code) for code in codes}
