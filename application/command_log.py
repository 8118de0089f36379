"""The record that makes a command id idempotent, across processes and restarts.

For a command with a ``command_id``, the same transaction that stores its events also
stores version 1 of a stream whose id is derived from the command id. A second execution
finds that record (or collides with it, if both race) and returns the first result
instead of recording anything.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from uuid import UUID

from adapters.canonical_json import canonical_ascii_json
from application.commands.base import Command
from domain.events.command_log import CommandRecorded, EventRef
from domain.ids import name_based_id

__all__ = [
    "CommandRecorded",
    "EventRef",
    "command_stream_id",
    "derived_id",
    "fingerprint",
    "same_command",
    "shape_of",
]

COMMANDS_NAMESPACE = UUID("6d1c3b9e-2b7c-4f4e-8a55-0f7d1f0a9c21")
NEW_IDS_NAMESPACE = UUID("a9a4f6d2-51f3-4b0e-9a8e-2c1b6f0e7d34")


@lru_cache(maxsize=4096)
def command_stream_id(command_id: str) -> UUID:
    """Cached: a batch asks for each command's stream id several times in a row."""
    return name_based_id(COMMANDS_NAMESPACE, command_id)


def fingerprint(command: Command, *, without: frozenset[str] = frozenset()) -> str:
    """Same command type and same fields (besides the id, and ``without``) give the same
    fingerprint."""
    body = command.model_dump(mode="json", exclude={"command_id", *without})
    text = canonical_ascii_json([command.type_name(), body])
    return hashlib.sha256(text.encode()).hexdigest()


def same_command(record: CommandRecorded, command: Command, stamp: str) -> bool:
    """Is ``command`` (fingerprint ``stamp``) the one ``record`` recorded? Once its
    customer is erased the record's fingerprint is gone with the key: a command of the same
    type and ``shape`` (its fields that hold no personal value) under that id is then taken
    for the recorded one, so that no answer tells a right guess of the erased values from a
    wrong one."""
    if record.command_type != command.type_name():
        return False
    if record.fingerprint is not None:
        return record.fingerprint == stamp
    return record.shape is None or record.shape == shape_of(command)


def shape_of(command: Command) -> str:
    """The fingerprint of a command's fields that hold no personal value."""
    return fingerprint(command, without=command.personal_fields)


def derived_id(command: Command, purpose: str) -> UUID | None:
    """A retried command that creates something must create the *same* thing, so new ids
    derive from the command id when there is one."""
    if command.command_id is None:
        return None
    return name_based_id(
        NEW_IDS_NAMESPACE, f"{command.type_name()}\x1f{command.command_id}\x1f{purpose}"
    )
