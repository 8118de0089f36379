"""Command handlers; importing this package registers every one of them."""

from application.handlers import complaint, customer, opportunity, order
from application.handlers.registry import HANDLERS

__all__ = ["HANDLERS", "complaint", "customer", "opportunity", "order"]
