"""``[services.NAME.source]``: the grammar, its errors, and the loader's hook."""

from __future__ import annotations

from pathlib import Path

import pytest

from drillbook.targets import TargetsError, load_targets, parse_targets
from drillbook.verify.source import S3Location, parse_s3_url, parse_source, sources_from_file
from tests.verify.conftest import BACKUPS, TARGETS

KEY = "services.app.source"


def toml(kind: str = "postgres", source: str = "") -> str:
    service = TARGETS.format(kind=kind, backup=BACKUPS[kind], rto="1h", rpo="24h")
    return service + (f"[services.app.source]\n{source}\n" if source else "")


def test_prefix_and_key_urls() -> None:
    assert parse_s3_url("s3://acme-backups/db/") == S3Location("acme-backups", "db/")
    assert parse_s3_url("s3://acme-backups/db/").is_prefix
    assert parse_s3_url("s3://acme-backups").is_prefix
    key = parse_s3_url("s3://acme-backups/db/2024-06-01.dump")
    assert not key.is_prefix and key.key == "db/2024-06-01.dump"


def test_every_key_is_read() -> None:
    spec = parse_source(
        {
            "url": "s3://acme-backups/db/",
            "pattern": "*.dump",
            "format": "custom",
            "endpoint": "https://minio.internal:9000/",
            "region": "eu-west-1",
            "sha256": "A" * 64,
            "size": "1.5GB",
            "max_age": "26h",
            "reference": "verify/app.structure",
            "roles": ["app_owner", "reporting"],
            "no_owner": False,
            "drift_tolerance": "5%",
            "jobs": 3,
            "timeout": "2h",
        },
        KEY,
        "postgres",
    )
    assert spec.url == S3Location("acme-backups", "db/")
    assert spec.endpoint == "https://minio.internal:9000"
    assert spec.sha256 == "a" * 64
    assert spec.size == 1_500_000_000
    assert spec.max_age == 26 * 3600
    assert spec.timeout == 7200
    assert spec.roles == ("app_owner", "reporting")
    assert spec.drift_tolerance == pytest.approx(0.05)
    assert spec.display() == "s3://acme-backups/db/"


@pytest.mark.parametrize(
    ("table", "where", "words"),
    [
        ({}, KEY, "exactly one of url and path"),
        ({"url": "s3://b-ok/x", "path": "/x"}, KEY, "exactly one of url and path"),
        ({"url": "https://bucket/x"}, f"{KEY}.url", "not an s3:// URL"),
        ({"url": "s3://AKIA:secret@bucket/x"}, f"{KEY}.url", "no credentials"),
        ({"url": "s3://Bad_Bucket/x"}, f"{KEY}.url", "invalid bucket name"),
        ({"path": "/x", "secret_access_key": "x"}, f"{KEY}.secret_access_key", "credentials"),
        ({"path": "/x", "aws_access_key_id": "x"}, f"{KEY}.aws_access_key_id", "environment"),
        ({"path": "/x", "password": "x"}, f"{KEY}.password", "credentials"),
        ({"path": "/x", "pathh": "x"}, f"{KEY}.pathh", "unknown key"),
        ({"path": "/x", "format": "zip"}, f"{KEY}.format", "unknown format"),
        ({"path": "/x", "sha256": "abc"}, f"{KEY}.sha256", "not a sha256"),
        ({"path": "/x", "size": "-1GB"}, f"{KEY}.size", "negative"),
        ({"path": "/x", "max_age": "90"}, f"{KEY}.max_age", "no unit"),
        ({"path": "/x", "drift_tolerance": "150%"}, f"{KEY}.drift_tolerance", "outside"),
        ({"path": "/x", "jobs": 0}, f"{KEY}.jobs", "1..64"),
        ({"path": "/x", "roles": "app"}, f"{KEY}.roles", "array"),
        ({"path": "/x", "endpoint": "http://k:s@h:9000"}, f"{KEY}.endpoint", "credentials"),
        ({"path": "/x", "manifest": "m.json"}, f"{KEY}.manifest", "s3 services only"),
    ],
)
def test_errors_name_the_key(table: dict[str, object], where: str, words: str) -> None:
    with pytest.raises(TargetsError) as err:
        parse_source(table, KEY, "postgres")
    assert err.value.key == where
    assert words in str(err.value)


def test_s3_service_needs_a_bucket_and_a_manifest() -> None:
    with pytest.raises(TargetsError, match="manifest"):
        parse_source({"url": "s3://media-bucket/"}, KEY, "s3")
    with pytest.raises(TargetsError, match="is a bucket"):
        parse_source({"path": "/x", "manifest": "m.json"}, KEY, "s3")
    spec = parse_source({"url": "s3://media-bucket/", "manifest": "m.json"}, KEY, "s3")
    assert spec.manifest == "m.json"


def test_loader_validates_the_source_with_file_and_key() -> None:
    good = parse_targets(toml(source='path = "/backups/app"'), "drills.toml")
    assert "app" in good.services
    with pytest.raises(TargetsError) as err:
        parse_targets(toml(source='url = "s3://x"'), "drills.toml")
    assert str(err.value).startswith("drills.toml: services.app.source.url: invalid bucket name")
    with pytest.raises(TargetsError) as err:
        parse_targets(toml(source='path = "/x"\nsecret_key = "s"'), "drills.toml")
    assert "services.app.source.secret_key" in str(err.value)
    assert "AWS_ACCESS_KEY_ID" in str(err.value)


def test_sources_from_file(tmp_path: Path) -> None:
    path = tmp_path / "drills.toml"
    path.write_text(
        toml(source='path = "dumps"') + toml().replace("services.app", "services.other")
    )
    load_targets(path)  # the loader accepts it
    sources = sources_from_file(path)
    assert list(sources) == ["app"]
    assert sources["app"].local_path(tmp_path) == tmp_path / "dumps"
