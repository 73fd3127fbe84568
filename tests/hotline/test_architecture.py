"""The package rules of docs/architecture.md, checked on the source: imports only point down the
table, no package imports another's `models`, and only `core` reads the people tables (others
call `core.directory` / `core.organisation`, and may name `User` and `Role` for typing)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

MAY_IMPORT = {
    "core": set(),
    "tickets": {"core"},
    "telephony": {"core", "tickets"},
    "qa": {"core", "tickets", "telephony"},
    "scheduling": {"core", "tickets", "telephony"},
    "agent_ui": {"core", "tickets", "telephony", "qa", "scheduling"},
    "hotline": {"core", "tickets", "telephony", "qa", "scheduling", "agent_ui"},
}
PEOPLE_TABLES = {"User", "Team", "Site", "Skill", "UserSkill", "SignInSession", "ApiToken"}
NAMEABLE = {"User", "Role", "LOCALES"}  # for annotations and role values


def _modules(package: str) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imports(tree: ast.Module) -> Iterator[tuple[str, list[str], int]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [alias.name for alias in node.names], node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_imports_point_down_the_table(package: str) -> None:
    wrong = []
    for path, tree in _modules(package):
        for module, names, line in _imports(tree):
            top = module.split(".")[0]
            if top in MAY_IMPORT and top != package and top not in MAY_IMPORT[package]:
                wrong.append(f"{_where(path, line)} imports {module}")
    assert not wrong, wrong


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_no_package_imports_another_packages_models(package: str) -> None:
    wrong = []
    for path, tree in _modules(package):
        for module, names, line in _imports(tree):
            top = module.split(".")[0]
            if top == package or top not in MAY_IMPORT or package == "hotline":
                continue  # hotline/models.py gathers every package's tables for migrations
            imported = [module] if not names else [f"{module}.{n}" for n in names]
            for full in imported:
                parts = full.split(".")
                if "models" in parts[1:] and not (top == "core" and set(parts[2:]) <= NAMEABLE):
                    wrong.append(f"{_where(path, line)} imports {full}")
    assert not wrong, wrong


@pytest.mark.parametrize("package", sorted(set(MAY_IMPORT) - {"core", "hotline"}))
def test_only_core_reads_the_people_tables(package: str) -> None:
    wrong = []
    for path, tree in _modules(package):
        for node in ast.walk(tree):
            # `User.id`, `Team.site_id` ... in a statement: a read of core's tables.
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in PEOPLE_TABLES and not _in_annotation(tree, node)):
                wrong.append(f"{_where(path, node.lineno)} reads {node.value.id}.{node.attr}")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in {"get", "scalars", "scalar", "execute"}
                    and any(isinstance(a, ast.Name) and a.id in PEOPLE_TABLES for a in node.args)):
                wrong.append(f"{_where(path, node.lineno)} loads {[a.id for a in node.args if isinstance(a, ast.Name)]}")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "select"
                    and any(isinstance(a, ast.Name) and a.id in PEOPLE_TABLES for a in node.args)):
                wrong.append(f"{_where(path, node.lineno)} selects from a people table")
    assert not wrong, wrong


def _in_annotation(tree: ast.Module, target: ast.AST) -> bool:
    return False  # attribute access on a model class is never an annotation
