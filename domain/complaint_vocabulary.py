"""The closed vocabularies of complaints (客户投诉), with their Chinese display labels.

Kept apart from ``domain.vocabulary`` so the complaint work does not edit the shared module;
the members behave exactly like the other ``Labelled`` enums (stored by their English code,
shown by ``zh``).
"""

from __future__ import annotations

from domain.vocabulary import Labelled


class ComplaintLabelled(Labelled):
    """A ``Labelled`` enum whose ``zh`` comes from this module's own labels."""

    @property
    def zh(self) -> str:
        return COMPLAINT_ZH_LABELS.get(self.value, self.value)


class ComplaintCategory(ComplaintLabelled):
    PRODUCT = "product"
    SERVICE = "service"
    DELIVERY = "delivery"
    BILLING = "billing"
    STAFF = "staff"
    OTHER = "other"


class ComplaintSeverity(ComplaintLabelled):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for low up to 3 for critical: escalation only ever moves up this scale."""
        return _SEVERITY_ORDER.index(self)


_SEVERITY_ORDER = list(ComplaintSeverity)


class ComplaintStatus(ComplaintLabelled):
    FILED = "filed"
    VALID = "valid"
    REJECTED_AS_INVALID = "rejected_as_invalid"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"

    @property
    def is_open(self) -> bool:
        """Closed and rejected-as-invalid (closed with an explanation) are the ends of the
        flow; a closed complaint may still be reopened, a rejected one may not."""
        return self not in (ComplaintStatus.CLOSED, ComplaintStatus.REJECTED_AS_INVALID)


OPEN_STATUSES: tuple[ComplaintStatus, ...] = tuple(s for s in ComplaintStatus if s.is_open)

# One dict for the three enums: their codes do not collide (a test checks it).
COMPLAINT_ZH_LABELS: dict[str, str] = {
    # category
    "product": "产品",
    "service": "服务",
    "delivery": "配送",
    "billing": "账务",
    "staff": "员工",
    "other": "其他",
    # severity
    "low": "轻微",
    "medium": "一般",
    "high": "严重",
    "critical": "紧急",
    # status (the seeds' 投诉的处理程序)
    "filed": "已记录投诉",
    "valid": "投诉成立",
    "rejected_as_invalid": "投诉不成立",
    "assigned": "已分派处理部门",
    "resolved": "已处理",
    "closed": "已结案",
    "reopened": "重新处理",
}
