"""One URL names a store: ``memory://``, ``sqlite:///path`` or ``postgresql://…?schema=``."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class StoreURLError(ValueError):
    """The store URL cannot be understood; the message says which part is wrong."""


@dataclass(frozen=True)
class StoreLocation:
    kind: str  # "sqlite" or "postgres"
    sqlite_name: str = ""
    in_memory: bool = False
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = field(default="", repr=False)
    dbname: str = "postgres"
    schema: str = "public"

    @property
    def display(self) -> str:
        """The URL without its password, fit for logs and messages."""
        if self.kind == "sqlite":
            return "memory://" if self.in_memory else f"sqlite:///{self.sqlite_name}"
        return (
            f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}?schema={self.schema}"
        )


def parse_store_url(url: str) -> StoreLocation:
    if url.startswith("memory://"):
        # A shared-cache in-memory SQLite database: private to this CRM, gone when it closes,
        # and SQL all the same, so read models work exactly as on disk.
        name = f"file:crm-{uuid.uuid4().hex}?mode=memory&cache=shared"
        return StoreLocation(kind="sqlite", sqlite_name=name, in_memory=True)
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if not path:
            raise StoreURLError("sqlite URL needs a file path: sqlite:///path/crm.db")
        return StoreLocation(kind="sqlite", sqlite_name=str(Path(unquote(path))))
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise StoreURLError(
            f"unsupported store URL scheme {parts.scheme!r}: "
            "use memory://, sqlite:///path or postgresql://user@host:port/db"
        )
    query = parse_qs(parts.query)
    unknown = set(query) - {"schema"}
    if unknown:
        raise StoreURLError(f"unknown store URL parameter(s): {', '.join(sorted(unknown))}")
    schema = query.get("schema", ["public"])[-1]
    if not SCHEMA_NAME.match(schema):
        raise StoreURLError(f"schema {schema!r} must match {SCHEMA_NAME.pattern}")
    dbname = unquote(parts.path.lstrip("/")) or "postgres"
    return StoreLocation(
        kind="postgres",
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username) if parts.username else "postgres",
        password=unquote(parts.password) if parts.password else "",
        dbname=dbname,
        schema=schema,
    )
