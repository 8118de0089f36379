"""The CRM's closed vocabularies, with the Chinese labels of the source material.

The English codes are the stored values (stable, ASCII, safe in SQL and URLs); the ``zh``
labels are for display and come from DESIGN.md.
"""

from __future__ import annotations

from enum import StrEnum


class Labelled(StrEnum):
    """A StrEnum whose members also carry a display label in Chinese."""

    @property
    def zh(self) -> str:
        return ZH_LABELS.get(self.value, self.value)


class CustomerKind(Labelled):
    INDIVIDUAL = "individual"
    COMPANY = "company"


class ManagementClass(Labelled):
    REGULAR = "regular"
    POTENTIAL = "potential"
    KEY = "key"
    OCCASIONAL = "occasional"


class MarketingType(Labelled):
    ECONOMIC = "economic"
    ETHICAL = "ethical"
    PERSONALISING = "personalising"
    CONVENIENCE = "convenience"


class RelationshipTier(Labelled):
    TRANSACTIONAL = "transactional"
    PREFERRED_SUPPLIER = "preferred_supplier"
    PARTNER = "partner"
    STRATEGIC_ALLIANCE = "strategic_alliance"


class ContactChannel(Labelled):
    PHONE = "phone"
    EMAIL = "email"
    VISIT = "visit"
    SMS = "sms"
    WECHAT = "wechat"
    MEETING = "meeting"


class ContactDirection(Labelled):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class ContactOutcome(Labelled):
    REACHED = "reached"
    NO_ANSWER = "no_answer"
    INTERESTED = "interested"
    NOT_INTERESTED = "not_interested"
    CALL_BACK = "call_back"
    RESOLVED = "resolved"


class FollowUpPurpose(Labelled):
    REVISIT = "revisit"
    BIRTHDAY = "birthday"
    HOLIDAY = "holiday"
    AFTER_SALE = "after_sale"
    COMPLAINT = "complaint"


class FollowUpStatus(Labelled):
    SCHEDULED = "scheduled"
    COMPLETED = "completed"
    MISSED = "missed"


class SatisfactionDimension(Labelled):
    OVERALL = "overall"
    PRODUCT = "product"
    SERVICE = "service"
    INTERACTION = "interaction"
    EMOTIONAL = "emotional"
    ENVIRONMENT = "environment"
    ENTERPRISE = "enterprise"


class SatisfactionLevel(Labelled):
    DISSATISFIED = "dissatisfied"
    SATISFIED = "satisfied"
    DELIGHTED = "delighted"


class OpportunityStage(Labelled):
    IDENTIFIED = "identified"
    INTENT_CONFIRMED = "intent_confirmed"
    NEEDS_CONFIRMED = "needs_confirmed"
    QUOTED = "quoted"
    NEGOTIATING = "negotiating"
    WON = "won"
    LOST = "lost"

    @property
    def is_final(self) -> bool:
        return self in (OpportunityStage.WON, OpportunityStage.LOST)

    @property
    def rank(self) -> int:
        """Position in the market-development flow; used to tell a back-move from progress."""
        return _STAGE_ORDER.index(self)


_STAGE_ORDER = list(OpportunityStage)

OPEN_STAGES: tuple[OpportunityStage, ...] = tuple(s for s in OpportunityStage if not s.is_final)


class Priority(Labelled):
    A = "A"
    B = "B"
    C = "C"


ZH_LABELS: dict[str, str] = {
    "individual": "个人客户",
    "company": "企业客户",
    "regular": "常规客户",
    "potential": "潜力客户",
    "key": "关键客户",
    "occasional": "临时客户",
    "economic": "经济型",
    "ethical": "道德型",
    "personalising": "个性化",
    "convenience": "方便型",
    "transactional": "交易关系",
    "preferred_supplier": "被优先考虑的服务商",
    "partner": "合作伙伴关系",
    "strategic_alliance": "战略联盟",
    "phone": "电话",
    "email": "电子邮件",
    "visit": "拜访",
    "sms": "短信",
    "wechat": "微信",
    "meeting": "会议",
    "revisit": "回访",
    "birthday": "生日",
    "holiday": "节日",
    "after_sale": "售后",
    "complaint": "投诉",
    "overall": "总体",
    "product": "产品",
    "service": "服务",
    "interaction": "互动",
    "emotional": "情感",
    "environment": "环境",
    "enterprise": "企业",
    "dissatisfied": "不满意",
    "satisfied": "基本满意",
    "delighted": "高度满意",
    "identified": "识别销售机会",
    "intent_confirmed": "意向确认",
    "needs_confirmed": "需求确认",
    "quoted": "报价",
    "negotiating": "合同洽谈",
    "won": "签订合同",
    "lost": "丢单",
}
