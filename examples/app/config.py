"""The application's configuration and its clients, all from the environment.

Every client has short timeouts and no retries: during an outage a request fails in
about a second instead of hanging, which is what a user (and the drill's synthetic
client) sees.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import psycopg
import redis
from botocore.config import Config as BotoConfig
from redis.backoff import NoBackoff
from redis.retry import Retry

REQUIRED = (
    "DATABASE_URL",
    "REDIS_URL",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "MEDIA_BUCKET",
)
TIMEOUT_S = 2.0


class ConfigError(RuntimeError):
    """A variable the application needs is missing."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str
    s3_endpoint: str
    access_key: str
    secret_key: str
    region: str
    media_bucket: str
    host: str
    port: int
    region_name: str  # which deployment this is (shown by /health), e.g. region-b

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        missing = [k for k in REQUIRED if not env.get(k)]
        if missing:
            raise ConfigError(
                f"missing environment variables: {', '.join(missing)} (the application "
                "is configured by the environment only)"
            )
        return cls(
            database_url=env["DATABASE_URL"],
            redis_url=env["REDIS_URL"],
            s3_endpoint=env["AWS_ENDPOINT_URL"],
            access_key=env["AWS_ACCESS_KEY_ID"],
            secret_key=env["AWS_SECRET_ACCESS_KEY"],
            region=env.get("AWS_DEFAULT_REGION", "us-east-1"),
            media_bucket=env["MEDIA_BUCKET"],
            host=env.get("HOST", "127.0.0.1"),
            port=int(env.get("PORT", "8080")),
            region_name=env.get("APP_REGION", "primary"),
        )


class Clients:
    """One Redis client and one S3 client per process; a database connection per request
    (a failover changes nothing a pooled connection could hide)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis = redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=TIMEOUT_S,
            socket_connect_timeout=1.0,
            retry=Retry(NoBackoff(), 0),
        )
        self.s3: Any = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint,
            aws_access_key_id=settings.access_key,
            aws_secret_access_key=settings.secret_key,
            region_name=settings.region,
            config=BotoConfig(
                connect_timeout=1.0,
                read_timeout=TIMEOUT_S,
                retries={"max_attempts": 1, "mode": "standard"},
                s3={"addressing_style": "path"},
                proxies={},
            ),
        )

    def db(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.settings.database_url, connect_timeout=2, autocommit=True)
