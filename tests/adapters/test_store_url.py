"""Store URLs: what each form means, and clear errors for the rest."""

from __future__ import annotations

import pytest

from adapters.store_url import StoreURLError, parse_store_url


def test_memory_urls_are_private_in_memory_sqlite_databases() -> None:
    first, second = parse_store_url("memory://"), parse_store_url("memory://")
    assert first.kind == "sqlite" and first.in_memory
    assert first.sqlite_name != second.sqlite_name


def test_sqlite_url_names_a_file() -> None:
    assert parse_store_url("sqlite:///data/crm.db").sqlite_name == "data/crm.db"
    assert parse_store_url("sqlite:////var/lib/crm.db").sqlite_name == "/var/lib/crm.db"


def test_postgres_url_with_schema_and_password() -> None:
    location = parse_store_url("postgresql://crm:s%40cret@db.local:6543/sales?schema=tenant_a")
    assert (location.host, location.port, location.user, location.dbname, location.schema) == (
        "db.local",
        6543,
        "crm",
        "sales",
        "tenant_a",
    )
    assert location.password == "s@cret"
    assert "s@cret" not in location.display and "s@cret" not in repr(location)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://x/y", "unsupported store URL scheme"),
        ("sqlite:///", "needs a file path"),
        ("postgresql://h/db?schema=Bad-Name", "must match"),
        ("postgresql://h/db?schema=a;drop", "must match"),
        ("postgresql://h/db?sslmode=require&x=1", "unknown store URL parameter"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(StoreURLError, match=message):
        parse_store_url(url)
