"""The aggregates: consistency boundaries whose rules need only their own history."""

from domain.aggregates.base import Aggregate
from domain.aggregates.complaint import Complaint
from domain.aggregates.customer import Customer
from domain.aggregates.opportunity import Opportunity
from domain.aggregates.order import Order

__all__ = ["Aggregate", "Complaint", "Customer", "Opportunity", "Order"]
