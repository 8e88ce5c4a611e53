"""The stages stay plain functions: nothing under app/pipeline/ imports Celery, kombu,
redis, Flask, Werkzeug or SQLAlchemy, nor any part of the app outside the pipeline but
the file-type sniffing the security scan shares with the upload."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PIPELINE = Path(__file__).resolve().parents[3] / "app" / "pipeline"
FORBIDDEN = {"celery", "kombu", "redis", "billiard", "flask", "werkzeug", "sqlalchemy"}
ALLOWED_APP = {"app.pipeline", "app.filetypes"}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    "path", sorted(PIPELINE.rglob("*.py")), ids=lambda p: str(p.relative_to(PIPELINE))
)
def test_a_stage_module_imports_no_framework_and_no_other_room(path: Path) -> None:
    names = imported(path)
    assert not {name for name in names if name.split(".")[0] in FORBIDDEN}
    outside = {
        name
        for name in names
        if name.split(".")[0] == "app"
        and not any(name == a or name.startswith(a + ".") for a in ALLOWED_APP)
    }
    assert not outside


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "stage.py"
    module.write_text("import sqlalchemy.exc\nfrom celery import shared_task\n")
    assert imported(module) == {"sqlalchemy.exc", "celery"}
