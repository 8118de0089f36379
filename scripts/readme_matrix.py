"""Rewrite the README's permission matrix from application/permissions.py (the source of
truth); a test fails when the two disagree. Run: .venv/bin/python -m scripts.readme_matrix"""

from __future__ import annotations

from pathlib import Path

from application.actor import Role
from application.permissions import PERMISSIONS, allowed_roles

README = Path(__file__).resolve().parents[1] / "README.md"


def table() -> list[str]:
    roles = list(Role)
    lines = ["| command | " + " | ".join(r.value for r in roles) + " |"]
    lines.append("|---|" + "---|" * len(roles))
    for command in PERMISSIONS:
        allowed = allowed_roles(command)
        cells = " | ".join("✓" if r in allowed else "·" for r in roles)
        lines.append(f"| `{command.__name__}` | {cells} |")
    return lines


def main() -> None:
    text = README.read_text(encoding="utf-8")
    head, section = text.split("\n## Permission matrix", 1)
    section, *rest = section.split("\n## ", 1)
    lines = section.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    kept = [line for line in lines if not line.startswith("|")]
    body = kept[:first] + table() + kept[first:]
    trailing = section[len(section.rstrip("\n")) :]  # the blank line before the next heading
    README.write_text(
        head
        + "\n## Permission matrix"
        + "\n".join(body)
        + trailing
        + ("\n## " + rest[0] if rest else ""),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
