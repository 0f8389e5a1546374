"""Someone else's data on the servers the external backend is pointed at, and full dumps
of it to prove it byte-identical after drills ran there.

A dump is ``{name: bytes}``: one entry per S3 object version (body, metadata, content
type, ETag, delete markers too) and bucket setting, per Redis key in every database
(type, ``DUMP`` serialisation, absolute expiry), per PostgreSQL database (``pg_dump``
plain output) plus the list of databases with their comments, the roles and
``postgresql.auto.conf``. Comparing two dumps names what differs.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from botocore.exceptions import ClientError

from drillbook.fixtures.local import LocalBackend

Dump = dict[str, bytes]
ROOT = Path(__file__).resolve().parents[2]

FOREIGN_BUCKETS = ("foreign-prod", "foreign-plain")
COLLIDING_BUCKET = "media-assets"  # the ransomware and object_storage drills' bucket
FOREIGN_REDIS_DBS = (0, 1, 2, 5)
FOREIGN_DATABASES = ("foreign_app", "orders")  # orders: the failover drills' name


# -- planting -------------------------------------------------------------------------------


def plant_s3(client: Any, buckets: tuple[str, ...] = FOREIGN_BUCKETS) -> None:
    """Versioned and plain buckets with several versions, metadata and a delete marker."""
    for bucket in buckets:
        client.create_bucket(Bucket=bucket)
        versioned = bucket != "foreign-plain"
        if versioned:
            client.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
            )
        for i in range(3):
            for rev in range(3 if versioned else 1):
                client.put_object(
                    Bucket=bucket,
                    Key=f"media/photo-{i}.jpg",
                    Body=f"{bucket} photo {i} revision {rev}".encode() * 50,
                    Metadata={"owner": "someone-else", "rev": str(rev)},
                    ContentType="image/jpeg",
                )
        client.put_object(Bucket=bucket, Key="site/index.html", Body=b"<html>theirs</html>")
        if versioned:
            client.delete_object(Bucket=bucket, Key="media/photo-2.jpg")  # a delete marker


def plant_redis(host: str, port: int, password: str) -> None:
    """Keys of every type, one with a TTL, in several databases; some with the names
    the drills' own ledgers use."""
    for db in FOREIGN_REDIS_DBS:
        c = redis_lib.Redis(host=host, port=port, password=password, db=db)
        c.set(f"foreign:{db}:string", "theirs")
        c.set(f"foreign:{db}:ttl", "expires", ex=7200)
        c.hset(f"foreign:{db}:hash", mapping={"a": "1", "b": "2"})
        c.rpush(f"foreign:{db}:list", "x", "y", "z")
        c.sadd(f"foreign:{db}:set", "p", "q")
        c.zadd(f"foreign:{db}:zset", {"m": 1.5, "n": 2.5})
        c.xadd(f"foreign:{db}:stream", {"event": "login"})
        c.set("drill-ledger:0000000001", "not the drill's")
        c.close()


def plant_postgres(handle: Any) -> None:
    """An application database with rows, a database named like a drill's, and a table
    in the maintenance database the URL points at."""
    for db in FOREIGN_DATABASES:
        handle.execute(f'CREATE DATABASE "{db}"')
        handle.execute("CREATE TABLE accounts (id int PRIMARY KEY, name text)", dbname=db)
        handle.execute(
            "INSERT INTO accounts SELECT g, 'customer ' || g FROM generate_series(1, 500) g",
            dbname=db,
        )
    handle.execute("CREATE TABLE their_settings (k text PRIMARY KEY, v text)")
    handle.execute("INSERT INTO their_settings VALUES ('mode', 'production')")


# -- dumping ----------------------------------------------------------------------------------


def _json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, default=str).encode()


def _error(fn: Any, **kwargs: Any) -> Any:
    try:
        out = fn(**kwargs)
    except ClientError as exc:
        return {"error": exc.response.get("Error", {}).get("Code")}
    out.pop("ResponseMetadata", None)
    return out


def dump_s3(client: Any) -> Dump:
    out: Dump = {}
    buckets = sorted(b["Name"] for b in client.list_buckets().get("Buckets", []))
    out["s3:buckets"] = _json(buckets)
    for bucket in buckets:
        out[f"s3:{bucket}:versioning"] = _json(_error(client.get_bucket_versioning, Bucket=bucket))
        out[f"s3:{bucket}:lock"] = _json(
            _error(client.get_object_lock_configuration, Bucket=bucket)
        )
        out[f"s3:{bucket}:tags"] = _json(_error(client.get_bucket_tagging, Bucket=bucket))
        pages = client.get_paginator("list_object_versions").paginate(Bucket=bucket)
        for page in pages:
            for marker in page.get("DeleteMarkers", []):
                name = f"s3:{bucket}/{marker['Key']}@{marker['VersionId']}:marker"
                out[name] = _json({k: marker[k] for k in ("IsLatest", "LastModified")})
            for v in page.get("Versions", []):
                obj = client.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
                meta = {
                    "IsLatest": v["IsLatest"],
                    "ETag": v["ETag"],
                    "Size": v["Size"],
                    "LastModified": v["LastModified"],
                    "Metadata": obj.get("Metadata"),
                    "ContentType": obj.get("ContentType"),
                }
                base = f"s3:{bucket}/{v['Key']}@{v['VersionId']}"
                out[base + ":meta"] = _json(meta)
                out[base + ":body"] = obj["Body"].read()
    return out


def dump_redis(host: str, port: int, password: str) -> Dump:
    out: Dump = {}
    admin = redis_lib.Redis(host=host, port=port, password=password)
    databases = int(str(admin.config_get("databases")["databases"]))
    keep = ("appendonly", "save", "dir", "dbfilename", "maxmemory", "maxmemory-policy")
    out["redis:config"] = _json({k: admin.config_get(k) for k in keep})
    admin.close()
    for db in range(databases):
        c = redis_lib.Redis(host=host, port=port, password=password, db=db)
        for key in sorted(c.scan_iter(count=500)):
            name = f"redis:{db}:{key!r}"
            expiry = c.execute_command("PEXPIRETIME", key)
            out[name + ":type"] = str(c.type(key)).encode()
            out[name + ":expiry"] = str(expiry).encode()
            out[name + ":dump"] = c.dump(key) or b""
        c.close()
    return out


@dataclass
class PostgresServer:
    """What dump_postgres needs: a superuser connection and pg_dump."""

    handle: Any  # the local backend's handle on the server

    def pg_dump(self, dbname: str) -> bytes:
        res = subprocess.run(
            [self.handle.tool("pg_dump"), "-Fp", "--no-sync", "-d", dbname],
            env={**self.handle.env(), "PGDATABASE": dbname},
            capture_output=True,
            timeout=120,
            check=True,
        )
        # pg_dump 15.14+ brackets its output with \restrict <random key> lines.
        keys = (b"\\restrict", b"\\unrestrict")
        lines = res.stdout.splitlines(keepends=True)
        return b"".join(line for line in lines if not line.startswith(keys))


def dump_postgres(server: PostgresServer) -> Dump:
    h = server.handle
    out: Dump = {}
    databases = h.execute(
        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
        "WHERE datname <> 'template0' ORDER BY datname"
    )
    out["pg:databases"] = _json(databases)
    out["pg:roles"] = _json(h.execute("SELECT rolname, rolsuper FROM pg_roles ORDER BY 1"))
    out["pg:auto.conf"] = (h.data_dir / "postgresql.auto.conf").read_bytes()
    for dbname, _comment in databases:
        out[f"pg:{dbname}"] = server.pg_dump(dbname)
    return out


@dataclass
class Servers:
    postgres: Any
    redis: Any
    s3: Any

    def env(self, allow: str = "") -> dict[str, str]:
        """``--drill-backend=external`` pointed at them, passwords passed by name."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DRILLBOOK_EXTERNAL_", "DRILLBOOK_ALLOW_", "AWS_"))
        }
        env.update(
            PYTHONPATH=str(ROOT),
            DRILLBOOK_BACKEND="external",
            DRILLBOOK_EXTERNAL_POSTGRES=(
                f"postgresql://drillbook:$FOREIGN_PG_PW@127.0.0.1:{self.postgres.port}/postgres"
            ),
            DRILLBOOK_EXTERNAL_REDIS=f"redis://:$FOREIGN_REDIS_PW@127.0.0.1:{self.redis.port}/3",
            DRILLBOOK_EXTERNAL_S3=f"http://127.0.0.1:{self.s3.port}",
            FOREIGN_PG_PW=self.postgres.password,
            FOREIGN_REDIS_PW=self.redis.password,
            AWS_ACCESS_KEY_ID=self.s3.access_key,
            AWS_SECRET_ACCESS_KEY=self.s3.secret_key,
        )
        if allow:
            env["DRILLBOOK_ALLOW_DESTRUCTIVE"] = allow
        return env

    def dump(self) -> dict[str, Dump]:
        r = self.redis
        return {
            "postgres": dump_postgres(PostgresServer(self.postgres)),
            "redis": dump_redis(r.host, r.port, r.password),
            "s3": dump_s3(self.s3.client()),
        }


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    local = LocalBackend()
    started: list[Any] = []
    try:
        started += [local.postgres("foreign-pg"), local.redis("foreign-redis")]
        started.append(local.s3("foreign-s3"))
        s = Servers(*started)
        plant_postgres(s.postgres)
        plant_redis(s.redis.host, s.redis.port, s.redis.password)
        plant_s3(s.s3.client())
        yield s
    finally:
        for handle in reversed(started):
            handle.close()


def differences(before: Dump, after: Dump) -> list[str]:
    """The names of entries gone, new or changed (empty when byte-identical)."""
    out = [f"gone: {k}" for k in sorted(before.keys() - after.keys())]
    out += [f"new: {k}" for k in sorted(after.keys() - before.keys())]
    out += [f"changed: {k}" for k in sorted(before.keys() & after.keys()) if before[k] != after[k]]
    return out


def size(dump: Dump) -> int:
    return sum(len(k) + len(v) for k, v in dump.items())
