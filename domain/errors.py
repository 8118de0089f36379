"""Typed errors of the domain.

A caller (a web back end, an import job) must be able to tell *which* rule or field failed
without parsing prose, so every error carries a machine-readable ``rule`` and, where one
field is to blame, its ``field``.
"""

from __future__ import annotations


class CRMError(Exception):
    """Base of every error crm-core raises on purpose."""


class RuleViolation(CRMError):
    """A command was well-formed but breaks a business rule; nothing was recorded."""

    def __init__(self, rule: str, message: str, *, field: str | None = None) -> None:
        self.rule = rule
        self.field = field
        self.message = message
        where = f" (field {field!r})" if field else ""
        super().__init__(f"rule {rule!r} violated{where}: {message}")
