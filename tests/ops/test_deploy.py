"""`flask deploy` against a live service of its own: gunicorn, one Celery worker, its own
Redis and database. A good release migrates and passes; a broken one is rolled back and
the service works again on the old schema."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from app.config import PROJECT_ROOT
from app.db import Database
from app.ops.deploy import SMOKE_EMAIL, smoke_test
from app.ops.migrations import alembic_config, revision_of
from tests.support.services import (
    RedisServer,
    drop_database,
    free_port,
    fresh_database,
    migrate,
)
from tests.support.workers import WorkerProcess, start_worker

BROKEN_REVISION = '''"""a broken release: renames a column every upload writes."""

from alembic import op

revision = "9999"
down_revision = {head!r}
branch_labels = None
depends_on = None
kind = "contract"  # the old release's uploads write the old name
reversible = True  # renaming back loses nothing


def upgrade() -> None:
    op.alter_column("shell_files", "original_filename", new_column_name="client_filename")


def downgrade() -> None:
    op.alter_column("shell_files", "client_filename", new_column_name="original_filename")
'''


@dataclass
class Live:
    database_url: str
    base_url: str
    env: dict[str, str]
    head: str


def start_web(env: dict[str, str], workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The API under gunicorn, as the Procfile runs it; returns once /healthz answers."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
        "--workers", "1", "--threads", "4", "app:create_app()",
    ]  # fmt: skip
    with (workdir / "web.log").open("wb") as out:
        process = subprocess.Popen(
            command, env=os.environ | env, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return process, base_url
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log = (workdir / "web.log").read_text(errors="replace")
            raise AssertionError(f"gunicorn did not start:\n{log[-3000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    name = f"sfp_deploy_{os.getpid()}"
    database_url = fresh_database(name)
    migrate(database_url)  # the release already running
    workdir = tmp_path_factory.mktemp("deploy")
    redis_server = RedisServer(workdir / "redis")
    redis_server.start()
    env = {
        "DATABASE_URL": database_url,
        "MIGRATIONS_DATABASE_URL": database_url,  # not the session's, which its env may hold
        "CELERY_BROKER_URL": redis_server.url,
        "DATA_DIR": str(workdir / "data"),
        "BLOB_STORAGE_URL": "db",
        "OMP_THREAD_LIMIT": "1",
        "PUBLISH_MARK_INTERVAL": "0",
        "HEARTBEAT_INTERVAL": "0.5",
        "STALE_AFTER": "5",
    }
    worker: WorkerProcess | None = None
    web: subprocess.Popen[bytes] | None = None
    try:
        worker = start_worker(env, workdir / "worker", name="deploy", concurrency=1)
        web, base_url = start_web(env, workdir)
        head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
        assert head is not None
        yield Live(database_url, base_url, env, head)
    finally:
        if web is not None:
            web.terminate()
            web.wait(timeout=30)
        if worker is not None:
            worker.stop(timeout=30)
        redis_server.stop()
        drop_database(name)


def run_deploy(live: Live, *extra: str) -> tuple[int, dict[str, Any]]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "app",
            "deploy",
            "--base-url",
            live.base_url,
            "--timeout",
            "90",
            *extra,
        ],
        env=os.environ | live.env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        timeout=400,
        check=False,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"deploy printed no JSON report:\n{result.stdout!r}\n{result.stderr[-3000:]!r}")
    return result.returncode, report


def columns(database_url: str, table: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        return {column["name"] for column in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def smoke_documents_left(database_url: str) -> int:
    return _count_of_smoke(
        database_url, "shell_files s JOIN accounts a ON a.id = s.uploaded_by WHERE TRUE"
    )


def smoke_tokens(database_url: str) -> tuple[int, int]:
    """The smoke account's tokens: (all of them, those not revoked)."""
    joined = "api_tokens t JOIN accounts a ON a.id = t.account_id WHERE "
    return (
        _count_of_smoke(database_url, joined + "TRUE"),
        _count_of_smoke(database_url, joined + "t.revoked_at IS NULL"),
    )


def _count_of_smoke(database_url: str, rows: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text(f"SELECT count(*) FROM {rows} AND a.email = :email"),
                    {"email": SMOKE_EMAIL},
                ).scalar_one()
            )
    finally:
        engine.dispose()


def test_a_good_release_is_migrated_and_passes_the_smoke_test(live: Live) -> None:
    # Given the live service on the revision before head.
    migrate(live.database_url, "-1", down=True)
    previous = revision_of(live.database_url)
    assert previous is not None and previous != live.head

    # When the release is deployed.
    code, report = run_deploy(live)

    # Then the schema is at head and the smoke document went all the way through.
    assert code == 0, report
    assert report["ok"] is True
    assert (report["previous_revision"], report["target_revision"]) == (previous, live.head)
    assert report["smoke"]["ok"] is True
    assert (report["smoke"]["step"], report["smoke"]["status"]) == ("done", "completed")
    assert report["rolled_back_to"] is None
    assert revision_of(live.database_url) == live.head
    assert smoke_documents_left(live.database_url) == 0  # cleaned up after passing
    issued, live_tokens = smoke_tokens(live.database_url)
    assert issued >= 1 and live_tokens == 0  # the run's token is revoked when it ends


def test_a_broken_release_is_rolled_back_and_the_old_schema_serves(
    live: Live, tmp_path: Path
) -> None:
    # Given a release whose migrations are the real ones plus one that breaks uploads.
    migrations = tmp_path / "migrations"
    shutil.copytree(
        PROJECT_ROOT / "migrations", migrations, ignore=shutil.ignore_patterns("__pycache__")
    )
    (migrations / "versions" / "9999_broken.py").write_text(BROKEN_REVISION.format(head=live.head))
    assert revision_of(live.database_url) == live.head

    # When it is deployed.
    code, report = run_deploy(live, "--migrations", str(migrations))

    # Then the smoke test fails on the new schema, the schema goes back, and the smoke
    # test run again on the old schema passes.
    assert code == 1, report
    assert report["ok"] is False
    assert (report["previous_revision"], report["target_revision"]) == (live.head, "9999")
    assert report["upgrade_error"] is None
    assert report["smoke"]["ok"] is False
    assert report["smoke"]["step"] == "upload"
    assert report["smoke"]["detail"].startswith("HTTP 500")
    assert report["rolled_back_to"] == live.head
    assert report["rollback_error"] is None
    assert report["smoke_after_rollback"]["ok"] is True
    assert revision_of(live.database_url) == live.head
    assert "original_filename" in columns(live.database_url, "shell_files")

    # And, checked on its own, the live service still takes and completes a document.
    db = Database(live.database_url, pool_size=1)
    try:
        again = smoke_test(db, live.base_url, timeout=90)
    finally:
        db.engine.dispose()
    assert (again.ok, again.status) == (True, "completed"), again


DATA_CARRYING_REVISION = '''"""a release that moves data: a new table, filled by the migration."""

import sqlalchemy as sa
from alembic import op

revision = "9998"
down_revision = {head!r}
branch_labels = None
depends_on = None
kind = "expand"
reversible = False  # its downgrade would drop the rows it wrote


def upgrade() -> None:
    op.create_table("deploy_notes", sa.Column("note", sa.Text(), nullable=False))
    op.execute("INSERT INTO deploy_notes (note) VALUES ('written by the migration')")


def downgrade() -> None:
    op.drop_table("deploy_notes")
'''


def test_a_rollback_stops_before_a_revision_whose_downgrade_would_lose_data(
    live: Live, tmp_path: Path
) -> None:
    # Given a release of two revisions: one that carries data, then one that breaks uploads.
    migrations = tmp_path / "migrations"
    shutil.copytree(
        PROJECT_ROOT / "migrations", migrations, ignore=shutil.ignore_patterns("__pycache__")
    )
    versions = migrations / "versions"
    (versions / "9998_data.py").write_text(DATA_CARRYING_REVISION.format(head=live.head))
    (versions / "9999_broken.py").write_text(BROKEN_REVISION.format(head="9998"))
    try:
        # When it is deployed and its smoke test fails.
        code, report = run_deploy(live, "--migrations", str(migrations))

        # Then only the reversible revision is undone: the rollback stops at the one that
        # carries data, says so, and leaves its rows; the service works on that schema.
        assert code == 1, report
        assert report["smoke"]["ok"] is False
        assert report["rolled_back_to"] == "9998"
        assert report["rollback_blocked_by"] == "9998"
        assert any("previous release runs on it" in step for step in report["steps"])
        assert revision_of(live.database_url) == "9998"
        assert "original_filename" in columns(live.database_url, "shell_files")
        assert notes(live.database_url) == ["written by the migration"]
        assert report["smoke_after_rollback"]["ok"] is True
    finally:
        config = alembic_config(live.database_url)
        config.set_main_option("script_location", str(migrations))
        command.downgrade(config, live.head)  # by hand, as an operator would decide to


def notes(database_url: str) -> list[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text("SELECT note FROM deploy_notes")).scalars())
    finally:
        engine.dispose()


def test_a_failed_upgrade_leaves_the_schema_where_it_was(live: Live, tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    shutil.copytree(
        PROJECT_ROOT / "migrations", migrations, ignore=shutil.ignore_patterns("__pycache__")
    )
    (migrations / "versions" / "9999_broken.py").write_text(
        BROKEN_REVISION.format(head=live.head).replace('"original_filename", new', '"no_such", new')
    )

    code, report = run_deploy(live, "--migrations", str(migrations))

    assert code == 1, report
    assert report["upgrade_error"] == "ProgrammingError"
    assert report["smoke"] is None
    assert report["rolled_back_to"] is None  # the failed upgrade's transaction undid itself
    assert report["smoke_after_rollback"]["ok"] is True
    assert revision_of(live.database_url) == live.head
