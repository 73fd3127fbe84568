"""The import contracts of pyproject.toml ([tool.importlinter]), checked by import-linter on the
whole source, imports inside functions included: the packages stay in their layers, and
telephony's modules import each other without a cycle, so the circle untangled in issue 14
cannot come back. `lint-imports` prints the same report."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_every_import_contract_is_kept(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from importlinter import configuration
    from importlinter.application import use_cases

    configuration.configure()  # the readers and the graph builder, as the command line sets them
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))
    kept = use_cases.lint_imports(config_filename=str(ROOT / "pyproject.toml"), cache_dir=None, no_logo=True)
    report = capsys.readouterr().out
    assert "No import cycle between telephony's modules" in report and "Packages are layered" in report
    assert kept, report
