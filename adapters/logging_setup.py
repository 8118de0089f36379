"""structlog configuration for processes that crm-core owns (the ``crm`` command).

A host that embeds the library configures structlog itself; the library only logs. The
settings are also left in the environment, where the processes crm-core starts for a
catch-up (``adapters.catch_up_workers``) find them and log as their parent does.
"""

from __future__ import annotations

import logging
import os
import sys

import structlog

LEVEL_VARIABLE = "CRM_LOG_LEVEL"
JSON_VARIABLE = "CRM_LOG_JSON"


def configure_logging(level: str = "warning", *, json: bool = False) -> None:
    os.environ[LEVEL_VARIABLE] = level
    os.environ[JSON_VARIABLE] = "1" if json else ""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if json
        # Plain tracebacks: a rich one would print every frame's local variables, and
        # locals hold customers' personal data and the store's URL.
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def configure_logging_as_parent() -> None:
    """In a process crm-core started: the parent's settings, or warnings only (to stderr:
    stdout carries the process's answer)."""
    level = os.environ.get(LEVEL_VARIABLE) or "warning"
    configure_logging(level, json=bool(os.environ.get(JSON_VARIABLE)))
