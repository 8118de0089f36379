"""The stages of the customer lifecycle (客户发展过程), with their Chinese display labels.

Kept apart from ``domain.vocabulary`` so the lifecycle work does not edit the shared module;
the members behave like the other ``Labelled`` enums (stored by their English code, shown
by ``zh``). The codes ``partner`` and ``member`` would collide with the shared labels
(``partner`` is also a relationship tier, 合作伙伴关系), hence the labels of their own.
"""

from __future__ import annotations

from domain.vocabulary import Labelled


class LifecycleStage(Labelled):
    """DESIGN §3, in the order of the development flow (not the order of the rules)."""

    SUSPECT = "suspect"
    PROSPECT = "prospect"
    DISQUALIFIED = "disqualified"
    FIRST_TIME_BUYER = "first_time_buyer"
    REPEAT_BUYER = "repeat_buyer"
    LONG_TERM = "long_term"
    MEMBER = "member"
    ADVOCATE = "advocate"
    PARTNER = "partner"
    CHURNED = "churned"

    @property
    def zh(self) -> str:
        return LIFECYCLE_ZH_LABELS[self.value]

    @property
    def is_buyer(self) -> bool:
        """A stage only a customer with at least one purchase can be in (rules 3 to 8)."""
        return self not in (
            LifecycleStage.SUSPECT,
            LifecycleStage.PROSPECT,
            LifecycleStage.DISQUALIFIED,
        )


LIFECYCLE_ZH_LABELS: dict[str, str] = {
    "suspect": "猜想客户",
    "prospect": "预期客户",
    "disqualified": "不合格者",
    "first_time_buyer": "首次购买客户",
    "repeat_buyer": "重复购买客户",
    "long_term": "长期客户",
    "member": "成员",
    "advocate": "拥护者",
    "partner": "合伙人",
    "churned": "流失客户",
}
