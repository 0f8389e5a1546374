"""``[services.NAME.source]``: where a service's real backups are, and what to hold them to.

::

    [services.affiliate.source]
    url = "s3://acme-backups/affiliate/"      # newest object under the prefix ...
    # url = "s3://acme-backups/affiliate/2024-06-01.dump"   # ... or one explicit key
    # path = "/backups/affiliate"             # or a file / folder on this machine
    pattern = "*.dump"                        # which names count as backups (newest wins)
    endpoint = "https://minio.internal:9000"  # S3-compatible store; default: AWS
    sha256 = "…"                              # when the team records one
    size = "1.2GB"
    max_age = "26h"                           # default: the service's RPO target
    reference = "verify/affiliate.structure"  # committed structure reference
    roles = ["app_owner"]                     # roles the dump's objects belong to
    drift_tolerance = "10%"

Credentials are never read from this file (nor from the command line): boto3's
credential chain reads them from the environment (``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE``,
an instance role ...). A key that looks like one is an error that says so.

:func:`parse_source` validates one table and raises :class:`drillbook.targets.TargetsError`
with the key path, so the targets loader can call it for every service.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillbook.targets import TargetsError, parse_duration, parse_size

FORMATS = ("auto", "custom", "directory", "tar", "plain", "basebackup", "rdb", "inventory")
SOURCE_KEYS = (
    "url",
    "path",
    "pattern",
    "format",
    "endpoint",
    "region",
    "sha256",
    "size",
    "max_age",
    "reference",
    "roles",
    "no_owner",
    "drift_tolerance",
    "manifest",
    "jobs",
    "timeout",
)
# Names a credential goes by: refused with the environment variable to use instead.
CREDENTIAL_KEYS = (
    "access_key",
    "access_key_id",
    "aws_access_key_id",
    "secret",
    "secret_key",
    "secret_access_key",
    "aws_secret_access_key",
    "session_token",
    "aws_session_token",
    "token",
    "password",
    "credentials",
    "profile",
)
ENV_HINT = (
    "credentials come from the environment only (boto3's chain: AWS_ACCESS_KEY_ID / "
    "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance or pod role), never from drills.toml"
)
DEFAULT_DRIFT_TOLERANCE = 0.10
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_ENDPOINT = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d{1,5})?/?")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/key``: a key ending in ``/`` (or empty) is a prefix to pick from."""

    bucket: str
    key: str = ""

    @property
    def is_prefix(self) -> bool:
        return self.key == "" or self.key.endswith("/")

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class SourceSpec:
    """One service's validated source. Durations in seconds, sizes in bytes."""

    url: S3Location | None = None
    path: str | None = None
    pattern: str = "*"
    format: str = "auto"
    endpoint: str | None = None
    region: str | None = None
    sha256: str | None = None
    size: int | None = None
    max_age: float | None = None
    reference: str | None = None
    roles: tuple[str, ...] = ()
    no_owner: bool = False
    drift_tolerance: float = DEFAULT_DRIFT_TOLERANCE
    manifest: str | None = None
    jobs: int | None = None
    timeout: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def display(self) -> str:
        """Where the backups are, as a report shows it (never a credential)."""
        return str(self.url) if self.url is not None else str(self.path)

    def local_path(self, base: Path) -> Path:
        """The ``path`` source, relative paths taken from the folder of drills.toml."""
        if self.path is None:
            raise ValueError("not a path source")
        path = Path(os.path.expanduser(self.path))
        return Path(os.path.normpath(path if path.is_absolute() else base / path))

    def reference_path(self, base: Path) -> Path | None:
        if self.reference is None:
            return None
        path = Path(self.reference)
        return path if path.is_absolute() else base / path

    def to_dict(self) -> dict[str, Any]:
        return {
            "location": self.display(),
            "pattern": self.pattern,
            "format": self.format,
            "endpoint": self.endpoint,
            "sha256": self.sha256,
            "size": self.size,
            "max_age": self.max_age,
            "reference": self.reference,
            "drift_tolerance": self.drift_tolerance,
            "manifest": self.manifest,
        }


def parse_s3_url(text: str, key: str = "url") -> S3Location:
    """``s3://bucket[/key]``; no credentials, no query, a valid bucket name."""
    if not text.startswith("s3://"):
        raise TargetsError(f"{text!r} is not an s3:// URL", key=key, allowed="s3://bucket/prefix/")
    rest = text[len("s3://") :]
    bucket, _, obj = rest.partition("/")
    if "@" in bucket or ":" in bucket:
        raise TargetsError("an s3:// URL carries no credentials or port", key=key, allowed=ENV_HINT)
    if "?" in rest or "#" in rest:
        raise TargetsError("an s3:// URL has no query or fragment", key=key)
    if not _BUCKET.fullmatch(bucket):
        raise TargetsError(
            f"invalid bucket name {bucket!r}",
            key=key,
            allowed="3-63 characters: lower-case letters, digits, '.' and '-'",
        )
    return S3Location(bucket, obj)


def _string(value: object, key: str, allowed: str = "a string") -> str:
    if not isinstance(value, str) or not value.strip():
        raise TargetsError(f"expected a non-empty string, got {value!r}", key=key, allowed=allowed)
    return value.strip()


def _fraction(value: object, key: str) -> float:
    allowed = 'a fraction of the rows such as "10%" or 0.1 (0 <= x < 1)'
    if isinstance(value, bool):
        raise TargetsError(f"expected a fraction, got {value!r}", key=key, allowed=allowed)
    if isinstance(value, str) and (m := _PERCENT.fullmatch(value.strip())):
        number = float(m.group(1)) / 100.0
    elif isinstance(value, int | float):
        number = float(value)
    else:
        raise TargetsError(f"cannot read {value!r}", key=key, allowed=allowed)
    if not 0.0 <= number < 1.0:
        raise TargetsError(f"{value!r} is outside 0..1", key=key, allowed=allowed)
    return number


def _roles(value: object, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(r, str) and r for r in value):
        raise TargetsError("expected an array of role names", key=key, allowed='["app_owner"]')
    if any(len(r.encode()) > 63 for r in value):
        raise TargetsError("a role name is at most 63 bytes", key=key)
    return tuple(value)


def _check_keys(table: dict[str, Any], key: str) -> None:
    for name in table:
        if name.lower() in CREDENTIAL_KEYS:
            raise TargetsError(
                "credentials are not read from drills.toml", key=f"{key}.{name}", allowed=ENV_HINT
            )
        if name not in SOURCE_KEYS:
            raise TargetsError("unknown key", key=f"{key}.{name}", allowed=", ".join(SOURCE_KEYS))


def _location(table: dict[str, Any], key: str) -> tuple[S3Location | None, str | None]:
    has_url, has_path = "url" in table, "path" in table
    if has_url == has_path:
        raise TargetsError(
            "give exactly one of url and path",
            key=key,
            allowed='url = "s3://bucket/prefix/" | path = "/backups/app"',
        )
    if has_url:
        return parse_s3_url(_string(table["url"], f"{key}.url"), f"{key}.url"), None
    return None, _string(table["path"], f"{key}.path")


def _endpoint(value: object, key: str) -> str:
    text = _string(value, key)
    if "@" in text:
        raise TargetsError("an endpoint carries no credentials", key=key, allowed=ENV_HINT)
    if not _ENDPOINT.fullmatch(text):
        raise TargetsError(f"cannot read endpoint {text!r}", key=key, allowed="http(s)://host:port")
    return text.rstrip("/")


def _optional(table: dict[str, Any], key: str) -> dict[str, Any]:
    """Every optional key, read and checked."""
    out: dict[str, Any] = {}
    for name in ("pattern", "region", "reference", "manifest"):
        if name in table:
            out[name] = _string(table[name], f"{key}.{name}")
    if "format" in table:
        fmt = _string(table["format"], f"{key}.format", " | ".join(FORMATS))
        if fmt not in FORMATS:
            raise TargetsError(
                f"unknown format {fmt!r}", key=f"{key}.format", allowed=" | ".join(FORMATS)
            )
        out["format"] = fmt
    if "endpoint" in table:
        out["endpoint"] = _endpoint(table["endpoint"], f"{key}.endpoint")
    if "sha256" in table:
        digest = _string(table["sha256"], f"{key}.sha256").lower()
        if not _SHA256.fullmatch(digest):
            raise TargetsError("not a sha256 digest", key=f"{key}.sha256", allowed="64 hex digits")
        out["sha256"] = digest
    for name, reader in (
        ("size", parse_size),
        ("max_age", parse_duration),
        ("timeout", parse_duration),
    ):
        if name in table:
            try:
                out[name] = reader(table[name])
            except TargetsError as err:
                raise err.located(key=f"{key}.{name}") from None
    if "roles" in table:
        out["roles"] = _roles(table["roles"], f"{key}.roles")
    if "no_owner" in table:
        if not isinstance(table["no_owner"], bool):
            raise TargetsError("expected true or false", key=f"{key}.no_owner")
        out["no_owner"] = table["no_owner"]
    if "drift_tolerance" in table:
        out["drift_tolerance"] = _fraction(table["drift_tolerance"], f"{key}.drift_tolerance")
    if "jobs" in table:
        jobs = table["jobs"]
        if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= 64:
            raise TargetsError(f"expected 1..64, got {jobs!r}", key=f"{key}.jobs")
        out["jobs"] = jobs
    return out


def parse_source(value: object, key: str, kind: str | None = None) -> SourceSpec:
    """A validated :class:`SourceSpec` from one ``[services.NAME.source]`` table.

    *key* is the table's path (``services.affiliate.source``): every error names the
    offending key under it. *kind* (postgres | redis | s3) checks what the kind needs.
    """
    if not isinstance(value, dict):
        raise TargetsError(
            f"expected a table, got {type(value).__name__}",
            key=key,
            allowed=f"a [{key}] table with url or path",
        )
    _check_keys(value, key)
    url, path = _location(value, key)
    spec = SourceSpec(url=url, path=path, **_optional(value, key))
    if kind == "s3" and spec.manifest is None:
        raise TargetsError(
            "an s3 service's source is checked against a manifest",
            key=f"{key}.manifest",
            allowed='manifest = "s3://bucket/manifest.json" or a path (JSON or CSV: key, size)',
        )
    if kind == "s3" and url is None:
        raise TargetsError(
            "an s3 service's source is a bucket", key=f"{key}.url", allowed="s3://bucket/prefix/"
        )
    if kind != "s3" and spec.manifest is not None:
        raise TargetsError("manifest applies to s3 services only", key=f"{key}.manifest")
    return spec


def sources_from_file(path: str | Path) -> dict[str, SourceSpec]:
    """Every service's source in a targets file, read by the targets loader (its guards
    and strict keys; ``[services.NAME.source]`` is a registered sub-table)."""
    from drillbook.targets import load_targets

    targets = load_targets(path)
    return {
        name: svc.subtables["source"]
        for name, svc in targets.services.items()
        if "source" in svc.subtables
    }
