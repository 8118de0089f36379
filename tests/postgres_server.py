"""A PostgreSQL server for the test session: the local one, or a throwaway cluster.

The application suite must run against PostgreSQL for real. If nothing answers on
127.0.0.1:5432 (or on ``CRM_TEST_POSTGRES``), we start a private cluster from the
installed binaries in a temporary directory and stop it at the end. If neither works the
session fails loudly: a PostgreSQL test is never skipped.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

DEFAULT_BASE = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    user: str
    dbname: str
    throwaway: bool

    def url(self, schema: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}?schema={schema}"

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname=self.dbname, autocommit=True
        )


def _answers(host: str, port: int, user: str, dbname: str) -> bool:
    try:
        with psycopg.connect(
            host=host, port=port, user=user, dbname=dbname, connect_timeout=3
        ) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.insert(0, out.stdout.strip())
    for candidate in candidates:
        if candidate and Path(candidate, "initdb").exists():
            return Path(candidate)
    raise RuntimeError("no PostgreSQL binaries (initdb) found; install postgresql")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _throwaway_cluster() -> Iterator[Server]:
    bindir = _bindir()
    workdir = Path(tempfile.mkdtemp(prefix="crm-pg-"))
    data = workdir / "data"
    port = _free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(workdir, "postgres")
    run = lambda *args: subprocess.run([*as_user, *args], check=True, capture_output=True)  # noqa: E731
    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    run(
        str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(workdir / "log"),
        "-o", f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off",
        "start",
    )  # fmt: skip
    try:
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:  # fmt: skip
            conn.execute("CREATE DATABASE test")
        yield Server("127.0.0.1", port, "postgres", "test", throwaway=True)
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False, capture_output=True,
        )  # fmt: skip
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[Server]:
    from urllib.parse import urlsplit

    base = urlsplit(os.environ.get("CRM_TEST_POSTGRES", DEFAULT_BASE))
    host, port = base.hostname or "127.0.0.1", base.port or 5432
    user, dbname = base.username or "postgres", base.path.lstrip("/") or "test"
    if _answers(host, port, user, dbname):
        yield Server(host, port, user, dbname, throwaway=False)
        return
    with _throwaway_cluster() as server:
        yield server
