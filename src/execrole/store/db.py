"""SQLite (WAL) for everything the endpoint remembers, with versioned migrations.

One connection per process, used from one thread at a time (the server's event loop):
every write is one transaction, committed before the response is sent.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Each entry moves the schema from version i to i+1. Never edit a released entry: add one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        alias TEXT,
        created REAL NOT NULL
    );
    CREATE TABLE access_keys (
        access_key_id TEXT PRIMARY KEY,
        secret TEXT NOT NULL,
        account TEXT NOT NULL,
        user_name TEXT,              -- NULL: the account's root user
        status TEXT NOT NULL DEFAULT 'Active',
        created REAL NOT NULL,
        last_used REAL,
        last_used_service TEXT,
        last_used_region TEXT
    );
    CREATE INDEX access_keys_user ON access_keys(account, user_name);
    CREATE TABLE sessions (
        access_key_id TEXT PRIMARY KEY,
        secret TEXT NOT NULL,
        token TEXT NOT NULL UNIQUE,
        account TEXT NOT NULL,
        data TEXT NOT NULL,          -- JSON: kind, arn, role, session name, policies, tags, ...
        expires REAL NOT NULL,
        created REAL NOT NULL
    );
    -- IAM users, groups, roles and customer managed policies, one JSON document each;
    -- names are unique per account and kind without regard to case, as in IAM.
    CREATE TABLE iam_entities (
        account TEXT NOT NULL,
        kind TEXT NOT NULL,
        name_key TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (account, kind, name_key)
    );
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        time REAL NOT NULL,
        request_id TEXT,
        account TEXT,
        principal TEXT NOT NULL,
        action TEXT NOT NULL,
        resource TEXT NOT NULL,
        decision TEXT NOT NULL,
        denied_by TEXT NOT NULL,     -- JSON list of layers
        statements TEXT NOT NULL,    -- JSON list of deciding statements
        message TEXT,
        source TEXT                  -- what asked: "api", or a job's ARN later
    );
    CREATE INDEX decisions_time ON decisions(time);
    CREATE INDEX decisions_principal ON decisions(principal, time);
    """,
    # 2: CloudWatch Logs and metrics
    """
    CREATE TABLE log_groups (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        name TEXT NOT NULL,
        created INTEGER NOT NULL,    -- epoch milliseconds, as the Logs API reports times
        retention_days INTEGER,
        kms_key_id TEXT,
        tags TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (account, region, name)
    );
    CREATE TABLE log_streams (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        log_group TEXT NOT NULL,
        name TEXT NOT NULL,
        created INTEGER NOT NULL,
        first_event INTEGER,
        last_event INTEGER,
        last_ingestion INTEGER,
        stored_bytes INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (account, region, log_group, name)
    );
    CREATE TABLE log_events (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        log_group TEXT NOT NULL,
        log_stream TEXT NOT NULL,
        timestamp INTEGER NOT NULL,
        ingestion INTEGER NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX log_events_stream ON log_events(account, region, log_group, log_stream,
                                                 timestamp, id);
    CREATE INDEX log_events_group ON log_events(account, region, log_group, timestamp, id);
    CREATE TABLE metric_data (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        namespace TEXT NOT NULL,
        metric TEXT NOT NULL,
        dimensions TEXT NOT NULL,    -- JSON, sorted by name
        timestamp REAL NOT NULL,
        value REAL NOT NULL,
        unit TEXT
    );
    CREATE INDEX metric_data_key ON metric_data(account, region, namespace, metric, timestamp);
    """,
    # 3: KMS
    """
    CREATE TABLE kms_keys (
        key_id TEXT PRIMARY KEY,     -- globally unique: a ciphertext names its key by ARN
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        created REAL NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        key_usage TEXT NOT NULL,
        key_spec TEXT NOT NULL,
        origin TEXT NOT NULL,
        state TEXT NOT NULL,         -- Enabled, Disabled or PendingDeletion
        deletion_date REAL,          -- set while PendingDeletion
        pending_days INTEGER,
        policy TEXT NOT NULL,        -- the key policy document, as given
        material BLOB NOT NULL,      -- AES-256 key material sealed under kms-master.key
        tags TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX kms_keys_account ON kms_keys(account, region, created);
    CREATE INDEX kms_keys_deletion ON kms_keys(deletion_date);
    CREATE TABLE kms_aliases (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        name TEXT NOT NULL,          -- alias/...
        key_id TEXT NOT NULL,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        PRIMARY KEY (account, region, name)
    );
    CREATE INDEX kms_aliases_key ON kms_aliases(key_id);
    CREATE TABLE kms_grants (
        grant_id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL,
        name TEXT,
        grantee TEXT NOT NULL,
        retiring TEXT,
        operations TEXT NOT NULL,    -- JSON list of grant operations
        constraints TEXT NOT NULL,   -- JSON object or null
        issuing_account TEXT NOT NULL,
        token TEXT NOT NULL UNIQUE,
        created REAL NOT NULL
    );
    CREATE INDEX kms_grants_key ON kms_grants(key_id, created);
    """,
    # 4: EC2
    """
    CREATE TABLE ec2_regions (           -- an account's region whose defaults exist
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        created REAL NOT NULL,
        PRIMARY KEY (account, region)
    );
    CREATE TABLE ec2_dhcp_options (
        id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        config TEXT NOT NULL,            -- JSON: [{"Key": ..., "Values": [...]}]
        created REAL NOT NULL
    );
    CREATE TABLE ec2_vpcs (
        id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        cidr TEXT NOT NULL,
        cidr_association TEXT NOT NULL,
        is_default INTEGER NOT NULL,
        tenancy TEXT NOT NULL,
        dhcp_options_id TEXT NOT NULL,
        created REAL NOT NULL
    );
    CREATE INDEX ec2_vpcs_scope ON ec2_vpcs(account, region);
    CREATE TABLE ec2_subnets (
        id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        vpc_id TEXT NOT NULL,
        cidr TEXT NOT NULL,
        az TEXT NOT NULL,
        default_for_az INTEGER NOT NULL,
        map_public_ip INTEGER NOT NULL,
        created REAL NOT NULL
    );
    CREATE INDEX ec2_subnets_scope ON ec2_subnets(account, region, vpc_id);
    CREATE TABLE ec2_route_tables (
        id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        vpc_id TEXT NOT NULL,
        main_association TEXT,           -- the main association's id (the VPC's main table)
        created REAL NOT NULL
    );
    CREATE INDEX ec2_route_tables_scope ON ec2_route_tables(account, region, vpc_id);
    CREATE TABLE ec2_security_groups (
        id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        vpc_id TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        created REAL NOT NULL,
        UNIQUE (vpc_id, name)
    );
    CREATE INDEX ec2_security_groups_scope ON ec2_security_groups(account, region, vpc_id);
    CREATE TABLE ec2_security_group_rules (
        id TEXT PRIMARY KEY,
        group_id TEXT NOT NULL,
        egress INTEGER NOT NULL,
        protocol TEXT NOT NULL,
        from_port INTEGER,
        to_port INTEGER,
        cidr_ipv4 TEXT,
        cidr_ipv6 TEXT,
        prefix_list_id TEXT,
        ref_group_id TEXT,
        ref_user_id TEXT,
        description TEXT,
        position INTEGER NOT NULL
    );
    CREATE INDEX ec2_security_group_rules_group ON ec2_security_group_rules(group_id, position);
    CREATE INDEX ec2_security_group_rules_ref ON ec2_security_group_rules(ref_group_id);
    CREATE TABLE ec2_network_interfaces (
        id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        subnet_id TEXT NOT NULL,
        vpc_id TEXT NOT NULL,
        az TEXT NOT NULL,
        private_ips TEXT NOT NULL,       -- JSON list, the primary address first
        mac TEXT NOT NULL,
        description TEXT NOT NULL,
        groups TEXT NOT NULL,            -- JSON list of security group ids
        interface_type TEXT NOT NULL,
        requester_id TEXT,
        requester_managed INTEGER NOT NULL DEFAULT 0,
        source_dest_check INTEGER NOT NULL DEFAULT 1,
        attachment TEXT,                 -- JSON, when attached
        created REAL NOT NULL
    );
    CREATE INDEX ec2_network_interfaces_scope ON ec2_network_interfaces(account, region);
    CREATE INDEX ec2_network_interfaces_subnet ON ec2_network_interfaces(subnet_id);
    CREATE TABLE ec2_eni_addresses (     -- private IPv4 addresses in use, one row each
        subnet_id TEXT NOT NULL,
        address TEXT NOT NULL,
        eni_id TEXT NOT NULL,
        PRIMARY KEY (subnet_id, address)
    );
    CREATE INDEX ec2_eni_addresses_eni ON ec2_eni_addresses(eni_id);
    CREATE TABLE ec2_eni_permissions (
        id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        eni_id TEXT NOT NULL,
        aws_account_id TEXT,
        aws_service TEXT,
        permission TEXT NOT NULL,
        state TEXT NOT NULL,
        created REAL NOT NULL
    );
    CREATE INDEX ec2_eni_permissions_scope ON ec2_eni_permissions(account, region, eni_id);
    CREATE TABLE ec2_tags (
        resource_id TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        PRIMARY KEY (resource_id, key)
    );
    CREATE INDEX ec2_tags_scope ON ec2_tags(account, region);
    """,
    # 5: S3 (bodies live in the blob store, addressed by sha256)
    """
    CREATE TABLE s3_buckets (
        name TEXT PRIMARY KEY,           -- bucket names are global across accounts
        account TEXT NOT NULL,           -- the owner
        region TEXT NOT NULL,
        location TEXT,                   -- the LocationConstraint as given, NULL for us-east-1
        ownership TEXT NOT NULL DEFAULT 'BucketOwnerEnforced',
        created REAL NOT NULL,
        policy TEXT,                     -- the bucket policy document as given
        tags TEXT                        -- JSON TagSet, NULL when the bucket has none
    );
    CREATE INDEX s3_buckets_account ON s3_buckets(account, name);
    CREATE TABLE s3_objects (
        bucket TEXT NOT NULL,
        key TEXT NOT NULL,
        blob TEXT NOT NULL,              -- sha256 of the body in the blob store
        size INTEGER NOT NULL,
        md5 TEXT NOT NULL,               -- hex md5 of the whole body
        etag TEXT NOT NULL,              -- unquoted, md5-of-md5s "-N" for multipart objects
        modified INTEGER NOT NULL,       -- epoch seconds (S3 reports whole seconds)
        stored REAL NOT NULL,            -- when the row was written, the blob reclamation clock
        attrs TEXT NOT NULL,             -- JSON, content headers, metadata, encryption, checksums
        tags TEXT NOT NULL DEFAULT '[]', -- JSON TagSet
        parts TEXT,                      -- JSON list of part sizes, for completed uploads
        PRIMARY KEY (bucket, key)
    );
    CREATE INDEX s3_objects_blob ON s3_objects(blob);
    CREATE TABLE s3_uploads (
        upload_id TEXT PRIMARY KEY,
        bucket TEXT NOT NULL,
        key TEXT NOT NULL,
        initiated REAL NOT NULL,
        initiator TEXT NOT NULL,         -- the caller's ARN
        account TEXT NOT NULL,           -- the caller's account
        attrs TEXT NOT NULL,             -- JSON, as s3_objects.attrs
        tags TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX s3_uploads_key ON s3_uploads(bucket, key, initiated);
    CREATE TABLE s3_parts (
        upload_id TEXT NOT NULL,
        part_number INTEGER NOT NULL,
        blob TEXT NOT NULL,
        size INTEGER NOT NULL,
        md5 TEXT NOT NULL,               -- hex, the part's ETag unquoted
        modified INTEGER NOT NULL,
        stored REAL NOT NULL,
        checksums TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (upload_id, part_number)
    );
    CREATE INDEX s3_parts_blob ON s3_parts(blob)
    """,
    # 6: ECR (layer bodies live in their own blob store, addressed by sha256)
    """
    CREATE TABLE ecr_repositories (
        account TEXT NOT NULL,           -- the registry id (the owner's account)
        region TEXT NOT NULL,
        name TEXT NOT NULL,
        created REAL NOT NULL,
        tag_mutability TEXT NOT NULL,    -- MUTABLE, IMMUTABLE or one of the _WITH_EXCLUSION kinds
        mutability_filters TEXT NOT NULL DEFAULT '[]',  -- JSON exclusion filters
        scan_on_push INTEGER NOT NULL DEFAULT 0,
        encryption TEXT NOT NULL,        -- JSON encryptionConfiguration
        policy TEXT,                     -- the repository policy as given
        tags TEXT NOT NULL DEFAULT '[]', -- JSON [{"Key", "Value"}]
        PRIMARY KEY (account, region, name)
    );
    CREATE TABLE ecr_images (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        repository TEXT NOT NULL,
        digest TEXT NOT NULL,            -- sha256 of the manifest bytes
        manifest TEXT NOT NULL,          -- the manifest exactly as pushed
        media_type TEXT NOT NULL,
        artifact_media_type TEXT,        -- the config blob's media type
        size INTEGER NOT NULL,
        pushed REAL NOT NULL,
        last_pull REAL,
        PRIMARY KEY (account, region, repository, digest)
    );
    CREATE TABLE ecr_image_tags (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        repository TEXT NOT NULL,
        tag TEXT NOT NULL,
        digest TEXT NOT NULL,
        added REAL NOT NULL,
        PRIMARY KEY (account, region, repository, tag)
    );
    CREATE INDEX ecr_image_tags_digest ON ecr_image_tags(account, region, repository, digest);
    CREATE TABLE ecr_layers (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        repository TEXT NOT NULL,
        digest TEXT NOT NULL,            -- sha256:<hex> of the layer (or config) blob
        blob TEXT NOT NULL,              -- hex sha256 in the blob store
        size INTEGER NOT NULL,
        media_type TEXT,                 -- from the first manifest that references it
        created REAL NOT NULL,
        PRIMARY KEY (account, region, repository, digest)
    );
    CREATE INDEX ecr_layers_blob ON ecr_layers(blob);
    CREATE TABLE ecr_image_layers (      -- which blobs each image manifest references
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        repository TEXT NOT NULL,
        image_digest TEXT NOT NULL,
        layer_digest TEXT NOT NULL,
        PRIMARY KEY (account, region, repository, image_digest, layer_digest)
    );
    CREATE INDEX ecr_image_layers_layer ON ecr_image_layers(account, region, repository,
                                                            layer_digest);
    CREATE TABLE ecr_uploads (
        upload_id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        repository TEXT NOT NULL,
        initiated REAL NOT NULL,
        received INTEGER NOT NULL DEFAULT 0  -- bytes received so far
    );
    CREATE TABLE ecr_upload_parts (
        upload_id TEXT NOT NULL,
        first_byte INTEGER NOT NULL,
        blob TEXT NOT NULL,
        size INTEGER NOT NULL,
        stored REAL NOT NULL,
        PRIMARY KEY (upload_id, first_byte)
    );
    CREATE INDEX ecr_upload_parts_blob ON ecr_upload_parts(blob);
    CREATE TABLE ecr_tokens (            -- GetAuthorizationToken results, for a registry front
        token TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        principal TEXT NOT NULL,
        access_key_id TEXT,
        expires REAL NOT NULL
    );
    CREATE INDEX ecr_tokens_expires ON ecr_tokens(expires)
    """,
    # 7: SageMaker resources (models now; jobs next), one JSON document each
    """
    CREATE TABLE sagemaker_resources (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        kind TEXT NOT NULL,
        name_key TEXT NOT NULL,          -- the name, lower-cased as in the resource's ARN
        arn TEXT NOT NULL,
        created REAL NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (account, region, kind, name_key)
    )
    """,
    # 8: jobs, tags and runtime events find SageMaker resources by ARN
    """
    CREATE INDEX sagemaker_resources_arn ON sagemaker_resources(arn)
    """,
    # 9: console sign-ins (the token is kept as its hash only)
    """
    CREATE TABLE console_sessions (
        token_hash TEXT PRIMARY KEY,
        access_key_id TEXT NOT NULL,
        session_token TEXT,
        csrf TEXT NOT NULL,
        created REAL NOT NULL,
        expires REAL NOT NULL
    )
    """,
    # 10: the decisions taken for one job (the console's job pages, execrole log --job)
    """
    CREATE INDEX decisions_source ON decisions(source, time)
    """,
]


class Database:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False,
                                     isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._depth = 0
        self.generation = 0  # bumped by every IAM write: compiled-policy caches key on it
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._migrate()

    def _migrate(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise RuntimeError(f"{self.path} was written by a newer execrole "
                               f"(schema {version}, this one knows {len(MIGRATIONS)})")
        for target in range(version, len(MIGRATIONS)):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _split(MIGRATIONS[target]):
                    self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {target + 1}")
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; nested uses join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._conn
            except BaseException:
                self._depth = 0
                self._conn.execute("ROLLBACK")
                raise
            self._depth = 0
            self._conn.execute("COMMIT")

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def one(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._conn.execute(sql, args).fetchone()
            return row

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> None:
        with self.transaction() as conn:
            conn.execute(sql, args)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- IAM entities (JSON documents) -------------------------------------------------------

    def get_entity(self, account: str, kind: str, name: str) -> dict[str, Any] | None:
        row = self.one("SELECT data FROM iam_entities WHERE account=? AND kind=? AND name_key=?",
                       (account, kind, name.lower()))
        return None if row is None else json.loads(row["data"])

    def put_entity(self, account: str, kind: str, name: str, data: dict[str, Any]) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO iam_entities(account, kind, name_key, data) "
                         "VALUES (?, ?, ?, ?)", (account, kind, name.lower(),
                                                 json.dumps(data, default=_json_default)))
            self.generation += 1

    def delete_entity(self, account: str, kind: str, name: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM iam_entities WHERE account=? AND kind=? AND name_key=?",
                         (account, kind, name.lower()))
            self.generation += 1

    def list_entities(self, account: str, kind: str) -> list[dict[str, Any]]:
        rows = self.query("SELECT data FROM iam_entities WHERE account=? AND kind=? "
                          "ORDER BY name_key", (account, kind))
        return [json.loads(r["data"]) for r in rows]


def _split(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def now() -> float:
    return time.time()
