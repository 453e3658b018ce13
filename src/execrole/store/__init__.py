"""Durable state: SQLite in WAL mode inside the data directory."""

from .db import Database

__all__ = ["Database"]
