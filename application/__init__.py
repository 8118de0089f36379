"""The application surface that hosting services embed: ``CRM``, ``Actor``, the commands
(``application.commands``) and the typed errors."""

from application.actor import Actor, Role
from application.crm import CRM
from application.errors import (
    ConcurrencyConflict,
    CRMError,
    NotFound,
    PermissionDenied,
    RuleViolation,
    ValidationError,
)
from application.result import CommandResult
from application.settings import Settings

__all__ = [
    "CRM",
    "Actor",
    "CRMError",
    "CommandResult",
    "ConcurrencyConflict",
    "NotFound",
    "PermissionDenied",
    "Role",
    "RuleViolation",
    "Settings",
    "ValidationError",
]
