"""No SQL is built from values: a value reaches the database only as a bound parameter.

The source of the four packages is parsed (not grepped line by line, so multi-line
f-strings and ``+`` chains are seen whole). Every piece of text that goes into a string
containing SQL keywords — an f-string field, an operand of ``+`` or ``%``, an argument of
``.format`` — must be shown to be one of:

- fixed text: a literal, or a module constant that is a ``str``;
- a placeholder: ``<dialect>.param`` (``?`` or ``%s``), or a join of them;
- an identifier: ``<dialect>.quote(...)`` / ``<dialect>.table(...)`` (``Dialect.quote``
  refuses anything that is not letters, digits and ``_``; tested below), psycopg's
  ``sql.SQL(...).format(sql.Identifier(...))``, or ``where_clause`` (quoted keys, ``= ?``);
- a local variable all of whose assignments in the function are one of the above;
- or an entry of ``ALLOWED`` below, which says why that expression cannot carry a value.

Anything else fails the test with its file, line and expression.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.sql import Dialect

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("domain", "application", "adapters", "projections")
SQL_WORDS = re.compile(
    r"\b(SELECT|INSERT\s+INTO|UPDATE|DELETE\s+FROM|WHERE|VALUES|SET|FROM|JOIN"
    r"|CREATE|DROP|ALTER|TRUNCATE|ORDER\s+BY|GROUP\s+BY)\b"
)
SQL_NAMES = re.compile(r"sql|statement|query|ddl", re.IGNORECASE)
SAFE_CALLEES = {"quote", "table", "where_clause", "Identifier", "Placeholder"}

# (file, expression as ast.unparse writes it) -> why it can never carry a value.
ALLOWED: dict[tuple[str, str], str] = {
    ("adapters/row_store.py", "physical"): (
        "CursorRowStore._table returns Dialect.table() of a table registered by a projection"
    ),
    ("adapters/projection_runner.py", "suffix"): "fixed text: '' or ' FOR UPDATE'",
    ("application/operations.py", "where.replace('?', d.param)"): (
        "Operations._select: callers pass fixed condition text with ? marks, values as params"
    ),
    ("application/operations.py", "order"): "Operations._select: fixed column names",
    ("adapters/projection_runner.py", "view.sql"): (
        "a View's fixed SQL text (projections/retention_views.py); only {schema} is formatted in"
    ),
    ("adapters/keys.py", "self.events_table_name"): (
        "the library recorder's own events table, named by us at construction; the library "
        "formats its statements with it the same way"
    ),
}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    expression: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.expression}"


def has_sql(node: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Constant) and isinstance(n.value, str) and SQL_WORDS.search(n.value)
        for n in ast.walk(node)
    )


class Scanner(ast.NodeVisitor):
    """Collects the pieces of SQL text that could not be shown to be free of values."""

    def __init__(self, path: str, module: str) -> None:
        self.path = path
        self.module = module
        self.scopes: list[ast.AST] = []
        self.findings: list[Finding] = []
        self.seen: set[int] = set()  # nested ``+`` chains are visited once per level

    # ---- walking -----------------------------------------------------------------

    def visit_Module(self, node: ast.Module) -> None:
        self.scopes.append(node)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scopes.append(node)
        self.generic_visit(node)
        self.scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        if has_sql(node):
            for part in node.values:
                if isinstance(part, ast.FormattedValue):
                    self.check(part.value)
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.Add | ast.Mod) and has_sql(node):
            for side in (node.left, node.right):
                self.check(side)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.op, ast.Add) and has_sql(node.value):
            self.check(node.value)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "format":
            receiver = func.value
            named_sql = isinstance(receiver, ast.Attribute | ast.Name) and SQL_NAMES.search(
                receiver.attr if isinstance(receiver, ast.Attribute) else receiver.id
            )
            if (has_sql(receiver) or named_sql) and not self.is_psycopg_sql(receiver):
                for argument in [*node.args, *(k.value for k in node.keywords)]:
                    self.check(argument)
        self.generic_visit(node)

    # ---- judging -----------------------------------------------------------------

    @staticmethod
    def is_psycopg_sql(node: ast.AST) -> bool:
        """``sql.SQL(...)``: its ``.format`` composes Identifier/Literal objects, not text."""
        if not isinstance(node, ast.Call):
            return False
        func = node.func
        return (isinstance(func, ast.Attribute) and func.attr == "SQL") or (
            isinstance(func, ast.Name) and func.id == "SQL"
        )

    def check(self, node: ast.AST) -> None:
        for leaf in self.unsafe_leaves(node, depth=0):
            if id(leaf) in self.seen:
                continue
            self.seen.add(id(leaf))
            expression = ast.unparse(leaf)
            if (self.path, expression) not in ALLOWED:
                self.findings.append(Finding(self.path, leaf.lineno, expression))
            else:
                USED.add((self.path, expression))

    def unsafe_leaves(self, node: ast.AST, depth: int) -> Iterator[ast.expr]:
        assert isinstance(node, ast.expr)
        if depth > 8:
            yield node
        elif isinstance(node, ast.Constant):
            return
        elif isinstance(node, ast.JoinedStr):
            for part in node.values:
                if isinstance(part, ast.FormattedValue):
                    yield from self.unsafe_leaves(part.value, depth + 1)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            yield from self.unsafe_leaves(node.left, depth + 1)
            yield from self.unsafe_leaves(node.right, depth + 1)
        elif isinstance(node, ast.IfExp):
            yield from self.unsafe_leaves(node.body, depth + 1)
            yield from self.unsafe_leaves(node.orelse, depth + 1)
        elif isinstance(node, ast.Attribute) and node.attr == "param":
            return
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            if not any(_placeholders(side) for side in (node.left, node.right)):
                yield node  # "?" * n is n placeholders
        elif isinstance(node, ast.Subscript):
            if not self.is_fixed_map(node.value):
                yield node
        elif isinstance(node, ast.Call):
            yield from self.call_leaves(node, depth)
        elif isinstance(node, ast.Name):
            yield from self.name_leaves(node, depth)
        elif isinstance(node, ast.ListComp | ast.GeneratorExp):
            yield from self.unsafe_leaves(node.elt, depth + 1)
        else:
            yield node

    def call_leaves(self, node: ast.Call, depth: int) -> Iterator[ast.expr]:
        func = node.func
        if self.is_psycopg_sql(func.value if isinstance(func, ast.Attribute) else func):
            return  # sql.SQL("...").format(...)
        if isinstance(func, ast.Attribute) and func.attr in SAFE_CALLEES:
            return
        if isinstance(func, ast.Name) and func.id in SAFE_CALLEES:
            return
        if isinstance(func, ast.Name) and self.assigned_safe_callee(func.id):
            return  # q = d.quote; q(name)
        if isinstance(func, ast.Attribute) and func.attr == "format":
            yield from self.unsafe_leaves(func.value, depth + 1)
            for argument in [*node.args, *(k.value for k in node.keywords)]:
                yield from self.unsafe_leaves(argument, depth + 1)
            return
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "join"
            and isinstance(func.value, ast.Constant)
            and len(node.args) == 1
        ):
            yield from self.unsafe_leaves(node.args[0], depth + 1)
            return
        yield node

    def assignments(self, name: str) -> list[ast.expr] | None:
        """Every value bound to ``name`` in the innermost scope, or None when one of them
        cannot be seen (a parameter, a loop variable, an unpacking from a call)."""
        scope = self.scopes[-1]
        if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = scope.args
            every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            if any(a.arg == name for a in every):
                return None
        values: list[ast.expr] = []
        for node in ast.walk(scope):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node is not scope:
                continue
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    found = self.bound(target, node.value, name)
                    if found is False:
                        return None
                    if found is not True and found is not None:
                        values.append(found)
            elif isinstance(node, ast.AnnAssign | ast.AugAssign) and _is_name(node.target, name):
                if node.value is None:
                    continue
                values.append(node.value)
            elif isinstance(node, ast.For | ast.comprehension | ast.With | ast.NamedExpr):
                targets = [getattr(node, "target", None)] + [
                    item.optional_vars for item in getattr(node, "items", [])
                ]
                if any(t is not None and _binds(t, name) for t in targets):
                    return None
        return values or None

    @staticmethod
    def bound(target: ast.expr, value: ast.expr, name: str) -> ast.expr | bool | None:
        """The value bound to ``name`` by ``target = value``; False when it cannot be seen."""
        if _is_name(target, name):
            return value
        if isinstance(target, ast.Tuple) and _binds(target, name):
            if isinstance(value, ast.Tuple) and len(value.elts) == len(target.elts):
                for element, element_value in zip(target.elts, value.elts, strict=True):
                    if _is_name(element, name):
                        return element_value
            return False
        return None

    def assigned_safe_callee(self, name: str) -> bool:
        values = self.assignments(name)
        return bool(values) and all(
            isinstance(v, ast.Attribute) and v.attr in SAFE_CALLEES for v in values or []
        )

    def is_fixed_map(self, node: ast.expr) -> bool:
        """A module constant mapping to fixed text (e.g. the column-type maps), directly or
        through a local chosen between such constants."""
        if not isinstance(node, ast.Name):
            return False
        if node.id.isupper():
            value = self.module_constant(node.id)
            return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        values = self.assignments(node.id) if len(self.scopes) > 1 else None
        if not values:
            return False
        choices: list[ast.expr] = []
        for value in values:
            choices += [value.body, value.orelse] if isinstance(value, ast.IfExp) else [value]
        return all(self.is_fixed_map(choice) for choice in choices)

    def name_leaves(self, node: ast.Name, depth: int) -> Iterator[ast.expr]:
        if node.id.isupper() and isinstance(self.module_constant(node.id), str):
            return  # fixed text
        values = self.assignments(node.id) if len(self.scopes) > 1 else None
        if values is None:
            yield node
            return
        for value in values:
            yield from self.unsafe_leaves(value, depth + 1)

    def module_constant(self, name: str) -> object:
        return getattr(importlib.import_module(self.module), name, None)


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _placeholders(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.replace("?", "").replace("%s", "").strip(", ") == ""
    )


def _binds(target: ast.AST, name: str) -> bool:
    return any(_is_name(n, name) for n in ast.walk(target))


USED: set[tuple[str, str]] = set()


def scan_source(source: str, path: str, module: str) -> list[Finding]:
    scanner = Scanner(path, module)
    scanner.visit(ast.parse(source))
    return scanner.findings


def scan_packages() -> list[Finding]:
    findings: list[Finding] = []
    for package in PACKAGES:
        for file in sorted((ROOT / package).rglob("*.py")):
            relative = file.relative_to(ROOT)
            module = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
            findings += scan_source(file.read_text(encoding="utf-8"), str(relative), module)
    return findings


def test_sql_text_carries_no_values_only_parameters() -> None:
    findings = scan_packages()
    assert not findings, (
        "SQL built from something not shown to be an identifier or a placeholder; bind the "
        "value as a parameter, or quote the identifier with Dialect.quote / sql.Identifier, "
        "or add a justified entry to ALLOWED:\n" + "\n".join(map(str, findings))
    )


def test_every_allowed_entry_is_still_needed() -> None:
    USED.clear()
    scan_packages()
    stale = sorted(set(ALLOWED) - USED)
    assert not stale, f"allow-list entries no longer needed (remove them): {stale}"


@pytest.mark.parametrize(
    "source",
    [
        'def f(cur, customer_id):\n    cur.execute(f"SELECT * FROM t WHERE id = {customer_id}")',
        "def f(cur, name):\n    cur.execute(\"DELETE FROM t WHERE name = '%s'\" % name)",
        "def f(cur, name):\n    cur.execute(\"UPDATE t SET name = '{}'\".format(name))",
        'def f(cur, name):\n    cur.execute("SELECT * FROM t WHERE name = \'" + name + "\'")',
        'def f(cur, email):\n    s = "SELECT * FROM t"\n    s += " WHERE email = " + email',
        "def f(cur, d, v):\n    w = v\n"
        "    cur.execute(f\"SELECT * FROM {d.table('t')} WHERE {w}\")",
        'def f(cur, rows):\n    for r in rows:\n        cur.execute(f"INSERT INTO t VALUES ({r})")',
        "def f(cur, view, v):\n    cur.execute(view.sql.format(schema=v))",
    ],
    ids=["f-string", "percent", "format", "plus", "augmented", "local", "loop", "named-sql"],
)
def test_the_scanner_catches_values_formatted_into_sql(source: str) -> None:
    assert len(scan_source(source, "example.py", "tests.test_sql_hygiene")) == 1


@pytest.mark.parametrize(
    "source",
    [
        "def f(cur, d, v):\n"
        "    cur.execute(f\"SELECT * FROM {d.table('t')} WHERE {d.quote('c')} = {d.param}\", [v])",
        "def f(cur, d, keys):\n"
        "    q = d.quote\n"
        "    marks = ', '.join(d.param for _ in keys)\n"
        "    cur.execute(f\"INSERT INTO t ({', '.join(q(k) for k in keys)}) VALUES ({marks})\")",
        "def f(cur, sql, s):\n"
        '    cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(s)))',
    ],
    ids=["quoted", "joined", "psycopg"],
)
def test_the_scanner_accepts_identifiers_and_placeholders(source: str) -> None:
    assert scan_source(source, "example.py", "tests.test_sql_hygiene") == []


@pytest.mark.parametrize(
    "name", ['x"; DROP TABLE t; --', "a b", "t'", "t--", 'a"b', "", "x;y", "t\x00"]
)
def test_identifier_quoting_refuses_anything_but_a_plain_name(name: str) -> None:
    for dialect in (Dialect("sqlite"), Dialect("postgres", schema="s")):
        with pytest.raises(ValueError, match="plain SQL identifier"):
            dialect.quote(name)
        with pytest.raises(ValueError, match="plain SQL identifier"):
            dialect.table(name)
