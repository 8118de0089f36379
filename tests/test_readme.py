"""The README's example is code a new user will paste: it must run as written."""

from __future__ import annotations

from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("```python\n") + len("```python\n")
    example = text[start : text.index("```", start)]
    monkeypatch.chdir(tmp_path)

    exec(compile(example, "README.md", "exec"), {})  # noqa: S102 - our own documentation

    assert (tmp_path / "crm.db").exists()
