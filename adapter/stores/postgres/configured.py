"""The PostgreSQL database the settings name (`--database-url`), opened for a start-up: its
failures become the operator's one-line `StartupError`, naming the setting to change.

A database that a newer adapter has migrated is refused here, before anything is served
(`migrate.SchemaTooNew`): old code must not write to a newer schema. The URL is quoted with
its password masked.
"""

from __future__ import annotations

from adapter.config import Settings, StartupError
from adapter.stores.postgres.database import DatabaseUnavailable, PostgresDatabase, redact
from adapter.stores.postgres.migrate import SchemaTooNew


async def open_database(settings: Settings) -> PostgresDatabase | None:
    """The database of `settings.database_url`, migrated and partitioned; None without one."""
    url = settings.database_url
    if url is None:
        return None
    try:
        return await PostgresDatabase.open(url, pool_size=settings.database_pool_size)
    except SchemaTooNew as exc:
        raise StartupError(f"the database at {redact(url)} has {exc}",
                           setting="database_url") from exc
    except DatabaseUnavailable as exc:
        raise StartupError(f"cannot use the database: {exc}", setting="database_url") from exc
