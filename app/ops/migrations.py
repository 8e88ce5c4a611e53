"""The schema's Alembic migrations, as the admin commands and the deploy reach them.

Below both `app.ops.cli` (`flask db upgrade|downgrade`) and `app.ops.deploy`, so each
imports it and neither imports the other.
"""

from __future__ import annotations

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from app.config import PROJECT_ROOT


def alembic_config(database_url: str) -> Config:
    """This checkout's Alembic configuration, pointed at `database_url`."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def revision_of(database_url: str) -> str | None:
    """The database's current Alembic revision (None for an empty database)."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
