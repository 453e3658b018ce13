"""The S3 provider's tables: buckets, objects, multipart uploads and their parts.

Bodies live in the blob store, addressed by sha256; these rows hold everything else. Keys are
TEXT compared with SQLite's BINARY collation, which orders UTF-8 strings by code point: the
order S3 lists keys in ("keys are returned in UTF-8 binary order", ListObjectsV2).
"""

from __future__ import annotations

from ...store import Database
from ...store.db import MIGRATIONS

# The S3 migration of store/db.py: the store owns every table definition.
SCHEMA = MIGRATIONS[4]


def statements() -> list[str]:
    return [s.strip() for s in SCHEMA.split(";") if s.strip()]


def create_schema(db: Database) -> None:
    """Create the S3 tables unless they exist (idempotent, so it can run after the
    migration that carries SCHEMA)."""
    with db.transaction() as conn:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND "
                        "name='s3_buckets'").fetchone():
            return
        for statement in statements():
            conn.execute(statement)
