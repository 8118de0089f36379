"""Maps each command type to the function that carries it out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from application.commands.base import Command
from application.unit_of_work import UnitOfWork
from domain.aggregates.base import Aggregate
from domain.context import CommandContext

C = TypeVar("C", bound=Command)
Handler = Callable[[UnitOfWork, Any, CommandContext], Aggregate]

HANDLERS: dict[type[Command], Handler] = {}


def handles(
    command_type: type[C],
) -> Callable[[Callable[[UnitOfWork, C, CommandContext], Aggregate]], Handler]:
    def register(function: Callable[[UnitOfWork, C, CommandContext], Aggregate]) -> Handler:
        if command_type in HANDLERS:
            raise TypeError(f"{command_type.__name__} already has a handler")
        HANDLERS[command_type] = function
        return function

    return register
