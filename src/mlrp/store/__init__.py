"""The only package with SQL: SQLite in WAL mode, short transactions, guarded updates."""

from mlrp.store.database import Store

__all__ = ["Store"]
