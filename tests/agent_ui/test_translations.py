"""The message catalogues: every string the pages use has a Simplified Chinese translation, and
the committed .mo files are compiled from the committed .po files."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from agent_ui import i18n, navigation
from core.models import Role

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = ROOT / "agent_ui" / "translations"


def _extracted() -> set[str]:
    # The same sources and options as agent_ui/babel.cfg.
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"trim_blocks": "true", "lstrip_blocks": "true", "newstyle_gettext": "true"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT / "agent_ui"), method_map, options_map=options, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _po(locale: str):  # type: ignore[no-untyped-def]
    with open(CATALOGUES / locale / "LC_MESSAGES" / "messages.po", "rb") as handle:
        return read_po(handle, locale=locale)


def test_every_page_string_is_translated_to_simplified_chinese() -> None:
    catalogue = _po("zh_Hans")
    translated = {(m.id if isinstance(m.id, str) else m.id[0]): m for m in catalogue if m.id}
    missing = sorted(message for message in _extracted() if message not in translated)
    assert not missing, f"run pybabel extract/update (see agent_ui/babel.cfg); missing in zh_Hans: {missing}"
    empty_or_fuzzy = sorted(
        key for key, m in translated.items()
        if m.fuzzy or not (m.string if isinstance(m.string, str) else all(m.string))
    )
    assert not empty_or_fuzzy, f"untranslated or fuzzy in zh_Hans: {empty_or_fuzzy}"


def test_compiled_catalogues_match_their_sources() -> None:
    for locale in ("en", "zh_Hans"):
        source = _po(locale)
        compiled = io.BytesIO()
        write_mo(compiled, source)
        with open(CATALOGUES / locale / "LC_MESSAGES" / "messages.mo", "rb") as handle:
            committed = read_mo(handle)
        expected = read_mo(io.BytesIO(compiled.getvalue()))
        pairs = {m.id if isinstance(m.id, str) else tuple(m.id): m.string for m in expected if m.id}
        committed_pairs = {m.id if isinstance(m.id, str) else tuple(m.id): m.string for m in committed if m.id}
        assert committed_pairs == pairs, f"recompile: pybabel compile -d agent_ui/translations ({locale})"


def test_glossary_words_for_roles() -> None:
    words = {role: i18n.gettext("zh_Hans", navigation.ROLE_LABELS[role]) for role in Role}
    assert words == {
        Role.agent: "客服代表", Role.team_leader: "班长", Role.qa_inspector: "质检员",
        Role.supervisor: "客服部主任", Role.center_head: "客服中心主任", Role.admin: "系统管理员",
    }
