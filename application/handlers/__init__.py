"""Command handlers; importing this package registers every one of them."""

from application.handlers import customer, opportunity
from application.handlers.registry import HANDLERS

__all__ = ["HANDLERS", "customer", "opportunity"]
