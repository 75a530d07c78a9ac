"""Pick the store implementation from its URL."""

from __future__ import annotations

from logcycle.settings import Settings
from logcycle.store.base import Store


def make_store(settings: Settings) -> Store:
    """``sqlite:///…`` → SQLiteStore; ``postgresql://…`` → PostgresStore."""
    url = settings.store_url
    if url.startswith("sqlite:///"):
        from logcycle.store.sqlite import SQLiteStore
        return SQLiteStore(url, tz=settings.tz, retention_weeks=settings.retention_weeks,
                           durability=settings.durability,
                           index_attributes=settings.attribute_keys)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from logcycle.store.postgres import PostgresStore  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            raise ValueError(f"the PostgreSQL store is not available: {exc}") from exc
        store: Store = PostgresStore(url, tz=settings.tz,
                                     retention_weeks=settings.retention_weeks,
                                     write_lanes=settings.effective_write_lanes,
                                     index_attributes=settings.attribute_keys)
        return store
    raise ValueError(f"unknown store URL {url!r}: use sqlite:///path or postgresql://…")
