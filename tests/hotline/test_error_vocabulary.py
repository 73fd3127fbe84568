"""One error vocabulary: every refusal the product raises is a msgid of both catalogues (with a
real Chinese translation) and names only values it is given; no page translates an error by
matching its English text. Read from the source, so a new refusal is checked the day it is
written."""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.errors import DomainError, default_message
from core.models import Role
from tests.factories import make_api_token, make_user, signed_in_client

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "tickets", "telephony", "qa", "scheduling", "agent_ui", "hotline")
BASES = {"DomainError", "NotFound", "PermissionDenied", "Conflict", "ValidationFailed"}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]")


def _catalogue(locale: str) -> Catalog:
    with (ROOT / "agent_ui" / "translations" / locale / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=locale)


ZH = _catalogue("zh_Hans")
EN = _catalogue("en")


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts or path == ROOT / "core" / "errors.py":
                continue
            yield path, ast.parse(path.read_text(encoding="utf-8"))


SOURCES = list(_sources())


def _name(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def _error_classes() -> set[str]:
    """The names of the domain error classes, from the class statements (aliases included)."""
    names = set(BASES)
    while True:
        before = len(names)
        for _path, tree in SOURCES:
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and any(_name(b) in names for b in node.bases):
                    names.add(node.name)
                elif isinstance(node, ast.Assign) and _name(node.value) in names:
                    names.update(_name(t) for t in node.targets if _name(t))
        if len(names) == before:
            return names


ERROR_CLASSES = _error_classes()


def _custom_constructors() -> set[str]:
    """Error classes whose constructor takes other values than a message (a state, a list of
    broken rules): their message is checked in their own `super().__init__` call."""
    custom = set()
    for _path, tree in SOURCES:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name in ERROR_CLASSES:
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                        first = [a.arg for a in item.args.args[1:2]]
                        if first != ["message"] and first != ["errors"]:
                            custom.add(node.name)
    return custom


CUSTOM = _custom_constructors()
# Where the web layer words its own refusals (a missing file, a constraint of the database).
RENDERERS = ("hotline/errors.py", "agent_ui/error_pages.py")


def _bindings(nodes: list[ast.stmt] | list[ast.AST]) -> dict[str, list[ast.expr]]:
    found: dict[str, list[ast.expr]] = {}
    for node in nodes:
        for child in ast.walk(node):
            if isinstance(child, (ast.Assign, ast.AnnAssign)) and child.value is not None:
                for target in child.targets if isinstance(child, ast.Assign) else [child.target]:
                    if _name(target):
                        found.setdefault(_name(target), []).append(child.value)
    return found


def _constants() -> tuple[dict[Path, dict[str, list[ast.expr]]], dict[str, list[ast.expr]]]:
    """Every UPPER_CASE string constant, or table of strings, of the product, by module and in
    all: a message given by such a name is checked where it is written."""
    by_module: dict[Path, dict[str, list[ast.expr]]] = {}
    everywhere: dict[str, list[ast.expr]] = {}
    for path, tree in SOURCES:
        for name, values in _bindings([tree]).items():
            if name.isupper() or name.lstrip("_").isupper():
                by_module.setdefault(path, {})[name] = values
                everywhere.setdefault(name, []).extend(values)
    return by_module, everywhere


MODULE_CONSTANTS, CONSTANTS = _constants()


@dataclass(frozen=True)
class Use:
    where: str
    message: ast.expr
    params: ast.expr | None  # a dict of the values the message is given, when written in place
    local: dict[str, list[ast.expr]]  # the names bound in the module and function the message is written in


def _params_of(call: ast.Call) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == "params"), None)


def _dict_value(node: ast.Dict, key: str) -> ast.expr | None:
    return next((v for k, v in zip(node.keys, node.values, strict=True)
                 if isinstance(k, ast.Constant) and k.value == key), None)


def _functions(tree: ast.Module) -> Iterator[tuple[ast.AST, dict[str, list[ast.expr]]]]:
    """Each node with the names bound in the function around it (none at module level)."""
    owner: dict[int, dict[str, list[ast.expr]]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            local = _bindings(node.body)
            for child in ast.walk(node):
                owner[id(child)] = local  # ast.walk is breadth first: the innermost function wins
    for node in ast.walk(tree):
        yield node, owner.get(id(node), {})


def _inside_error_class(tree: ast.Module, call: ast.Call) -> bool:
    return any(isinstance(node, ast.ClassDef) and node.name in ERROR_CLASSES
               and node.lineno <= call.lineno <= (node.end_lineno or 0) for node in tree.body)


def _uses() -> Iterator[Use]:
    """Every message a domain error is raised with, every `msg` of an error item, and every
    message a customer field check adds."""
    for path, tree in SOURCES:
        for node, in_function in _functions(tree):
            local = {**MODULE_CONSTANTS.get(path, {}), **in_function}
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            is_super = (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "__init__" and isinstance(node.func.value, ast.Call)
                        and _name(node.func.value.func) == "super" and _inside_error_class(tree, node))
            if isinstance(node, ast.Call) and (_name(node.func) in ERROR_CLASSES - CUSTOM or is_super):
                message = node.args[0] if node.args else next(
                    (k.value for k in node.keywords if k.arg in ("message", "errors")), None)
                if message is not None and not isinstance(message, (ast.List, ast.ListComp)):
                    yield Use(where, message, _params_of(node), local)
            elif (isinstance(node, ast.Dict) and _dict_value(node, "loc") is not None
                  and not isinstance(_dict_value(node, "msg"), (ast.Dict, type(None)))):
                yield Use(where, _dict_value(node, "msg"), _dict_value(node, "params"), local)  # type: ignore[arg-type]
            elif (isinstance(node, ast.Call) and _name(node.func) == "N_" and node.args
                  and str(path.relative_to(ROOT)) in RENDERERS):
                yield Use(where, node.args[0], None, local)
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add"
                  and _name(node.func.value) == "problems" and len(node.args) >= 2):
                params = ast.Dict(keys=[ast.Constant(k.arg) for k in node.keywords],
                                  values=[k.value for k in node.keywords])
                yield Use(where, node.args[1], params, local)


def _texts(node: ast.expr, local: dict[str, list[ast.expr]],
           seen: frozenset[str] = frozenset()) -> Iterator[str | ast.expr]:
    """The message strings a node can be, or the node itself when it is built at run time."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from _texts(node.body, local, seen)
        yield from _texts(node.orelse, local, seen)
    elif isinstance(node, ast.BoolOp):  # `message or "the default"`
        for value in node.values:
            yield from _texts(value, local, seen)
    elif isinstance(node, ast.Dict):
        for value in node.values:
            yield from _texts(value, local, seen)
    elif isinstance(node, ast.Tuple):
        for value in node.elts:
            yield from _texts(value, local, seen)
    elif isinstance(node, ast.Call) and _name(node.func) == "N_" and node.args:
        yield from _texts(node.args[0], local, seen)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        yield from _texts(node.func.value, local, seen)  # a table's entry: every entry is checked
    elif isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)):
        name = _name(node.value) if isinstance(node, ast.Subscript) else _name(node)
        bindings = local.get(name) if name in local else CONSTANTS.get(name)
        if name in seen or not bindings:
            return  # a value computed at run time (an argument, a loop variable): checked where it is written
        for bound in bindings:
            if isinstance(bound, (ast.Constant, ast.JoinedStr, ast.BinOp, ast.IfExp, ast.Dict, ast.Tuple)) or (
                    isinstance(bound, ast.Call) and _name(bound.func) == "N_"):
                yield from _texts(bound, local, seen | {name})
    else:
        yield node  # an f-string, a concatenation, a .format(): English built at run time


USES = list(_uses())


def _checked() -> list[tuple[str, str, ast.expr | None]]:
    found = []
    for use in USES:
        for text in _texts(use.message, use.local):
            found.append((use.where, text, use.params))
    return found


CHECKED = _checked()


def test_refusals_are_written_as_templates_not_built_english() -> None:
    built = [f"{where}: {ast.unparse(text)[:90]}" for where, text, _params in CHECKED if not isinstance(text, str)]
    assert not built, "messages built at run time (use a template with params):\n" + "\n".join(built)


def test_every_refusal_has_a_real_chinese_translation() -> None:
    missing = sorted({f"{where}: {text}" for where, text, _params in CHECKED
                      if isinstance(text, str) and text and not (ZH.get(text) and ZH.get(text).string
                                                                 and ZH.get(text).string != text
                                                                 and EN.get(text) is not None)})
    assert not missing, f"{len(missing)} refusals without a Chinese translation:\n" + "\n".join(missing)


def test_every_value_a_refusal_names_is_given() -> None:
    wrong = []
    for where, text, params in CHECKED:
        if not isinstance(text, str):
            continue
        named = set(PLACEHOLDER.findall(text))
        entry = ZH.get(text)
        if entry is not None and entry.string and set(PLACEHOLDER.findall(str(entry.string))) != named:
            wrong.append(f"{where}: the translation names other values than {sorted(named)}: {text}")
        if not named:
            continue
        if params is None:
            wrong.append(f"{where}: names {sorted(named)} but is given no params: {text}")
        elif isinstance(params, ast.Dict) and all(isinstance(k, ast.Constant) for k in params.keys):
            given = {k.value for k in params.keys if isinstance(k, ast.Constant)}
            if not named <= given:
                wrong.append(f"{where}: names {sorted(named - given)} it is not given: {text}")
    assert not wrong, "\n".join(wrong)


def _all_error_classes() -> Iterator[type[DomainError]]:
    for path, tree in SOURCES:
        if any(isinstance(node, ast.ClassDef) and node.name in ERROR_CLASSES for node in tree.body):
            importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
    pending = [DomainError]
    while pending:
        cls = pending.pop()
        yield cls
        pending.extend(cls.__subclasses__())


@pytest.mark.parametrize("cls", sorted(set(_all_error_classes()), key=lambda c: (c.__module__, c.__qualname__)),
                         ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_every_error_class_has_a_code_and_a_translated_default_message(cls: type[DomainError]) -> None:
    assert cls.code and cls.code.replace(".", "_").replace("_", "").isalnum()
    message = default_message(cls)
    entry = ZH.get(message)
    assert entry is not None and entry.string and entry.string != message, message
    assert not PLACEHOLDER.findall(message)
    subject = vars(cls).get("subject")  # a rule refusal's summary, which names how many rules
    if subject is not None:
        entry = ZH.get(subject)
        assert entry is not None and entry.string and entry.string != subject, subject
        assert set(PLACEHOLDER.findall(str(entry.string))) == set(PLACEHOLDER.findall(subject)) == {"count"}


# No page translates by matching text ----------------------------------------------------------

def test_no_page_reads_the_english_of_a_refusal() -> None:
    """Pages show a refusal through its msgid and values (the one path: `agent_ui.form_errors`
    beside a field, `agent_ui.error_pages` for a whole page or the API); nothing else reads its
    English `message`, compares it or looks words up in it, and none keeps tables keyed by it."""
    found = []
    one_path = {ROOT / "agent_ui" / "form_errors.py", ROOT / "agent_ui" / "error_pages.py"}
    for path, tree in SOURCES:
        if path.relative_to(ROOT).parts[0] != "agent_ui" and path != ROOT / "hotline" / "errors.py" \
                or path in one_path:
            continue
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Attribute) and node.attr in ("message", "msgid") and _name(node.value) in (
                    "exc", "error", "err", "e", "refusal", "general"):
                found.append(f"{where}: reads .{node.attr}")
            if isinstance(node, ast.FunctionDef) and node.name.startswith("_explain"):
                found.append(f"{where}: def {node.name}")
            if isinstance(node, ast.Name) and node.id in ("_BY_MESSAGE", "_MESSAGES"):
                found.append(f"{where}: {node.id}")
    assert not found, "\n".join(found)


def test_a_reworded_refusal_keeps_its_translation() -> None:
    """The translation follows the msgid the error carries, not its English text after values:
    the same refusal with other values is translated the same way."""
    zh = {m.id: m.string for m in ZH if m.id}

    def gettext(message: str) -> str:
        return zh.get(message) or message

    from core.errors import ValidationFailed
    from tickets.grants import GrantOverlap

    template = "Write the note (up to %(limit)s characters)."
    first = ValidationFailed(template, field="body", params={"limit": 1234})
    second = ValidationFailed(template, field="body", params={"limit": 5678})
    assert first.message != second.message
    assert "1234" in first.text(gettext) and "5678" in second.text(gettext)
    assert first.text(gettext) != first.message and second.text(gettext) != second.message
    assert GrantOverlap().text(gettext) == zh[default_message(GrantOverlap)]


# One path: the same refusal on the API and on a page, in the reader's language ---------------

def _zh(message: str) -> str:
    entry = ZH.get(message)
    assert entry is not None and entry.string
    return str(entry.string)


def test_the_api_says_a_refusal_in_the_language_asked_for(client: TestClient, session: Session) -> None:
    from tickets.visibility import CustomerNotFound

    token = make_api_token(session, make_user(session, role=Role.admin))
    for language, expected in (("zh-CN,zh;q=0.9", _zh(default_message(CustomerNotFound))),
                               ("en", default_message(CustomerNotFound))):
        response = client.get("/api/v1/customers/999999",
                              headers={"Authorization": f"Bearer {token}", "Accept-Language": language})
        assert response.status_code == 404
        assert response.json() == {"detail": expected, "code": "not_found"}


def test_the_api_fills_a_refusal_with_its_values_in_chinese(client: TestClient, session: Session) -> None:
    token = make_api_token(session, make_user(session, role=Role.admin))
    response = client.get("/api/v1/tickets", params={"limit": 100_000},
                          headers={"Authorization": f"Bearer {token}", "Accept-Language": "zh-CN"})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "invalid" and body["detail"] == _zh("Some fields are not valid; see errors for each field.")


def test_a_page_shows_the_same_refusal_through_the_error_page(client: TestClient, session: Session) -> None:
    """A page that cannot show what it was asked for answers with the error page, worded by the
    same domain error as the API, in the reader's language."""
    signed_in_client(client, make_user(session, role=Role.agent, locale="zh_Hans"))
    response = client.get("/tickets/999999", headers={"Accept": "text/html"})
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
    from tickets.access import TicketNotFound

    assert _zh(default_message(TicketNotFound)) in response.text
    assert response.headers["content-language"] == "zh-Hans"


def test_one_predicate_says_what_is_an_api_request() -> None:
    """sign-in, CSRF refusals and error bodies all ask `core.auth.is_api_request`; nothing else
    decides it."""
    found = []
    for path, tree in SOURCES:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name != "is_api_request" and (
                    node.name.startswith(("is_api", "wants_json", "_is_api")) or node.name == "is_api_operation"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.name}")
    assert not found, found
