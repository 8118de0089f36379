"""A small demo store shared by the report tests, and the ``crm`` executable to drive."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from uuid import UUID

import pytest

from application import CRM
from application.commands import DimensionScore, RecordSatisfactionSurvey
from tests.application.builders import REP, register

ROOT = Path(__file__).resolve().parents[2]
CRM_EXE = Path(sys.executable).with_name("crm")
# A name that would run in a page that forgot to escape it.
EVIL_NAME = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>'


def run_crm(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CRM_EXE), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def fill(url: str) -> UUID:
    """The 40-customer demo plus one customer with a hostile name who is at risk (a
    dissatisfied survey), so that the name reaches the churn-risk list."""
    demo = run_crm("demo", "--customers", "40", "--db", url)
    assert demo.returncode == 0, demo.stderr
    with CRM.open(url) as crm:
        evil = register(crm, kind="individual", name=EVIL_NAME)
        crm.execute(
            RecordSatisfactionSurvey(
                customer_id=evil,
                scores=(DimensionScore(dimension="overall", expected=9, perceived=3),),
            ),
            actor=REP,
        )
    return evil


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('reports') / 'demo.db'}"
    fill(url)
    return url
