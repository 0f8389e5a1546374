#!/usr/bin/env python3
"""archive_command / restore_command that push and fetch WAL segments through S3.

Runs inside the PostgreSQL server's environment (as the unprivileged server user), so
it uses the standard library only and is copied next to the cluster: any ``python3``
can run it, whatever virtualenv drillbook lives in. Requests are signed with AWS
Signature V4, so it works against moto, MinIO and real S3 alike.

    wal_s3.py push CONFIG %p %f     # archive_command
    wal_s3.py fetch CONFIG %f %p    # restore_command (exit 1 when the segment is absent)

CONFIG is a JSON file {endpoint, bucket, prefix, access_key, secret_key, region,
catalog}, readable by the server user only. A PUT is atomic in S3: a killed archiver
never leaves a partial segment behind; a fetch writes to a temporary name and renames.

``catalog`` (optional) is a local file, kept apart from the objects: each push that S3
acknowledged appends ``<name> <sha256> <bytes> <epoch seconds>``, and a fetch refuses a
segment whose content is not the catalog's (an object re-hashed in its own metadata
passes a check against that metadata; it cannot pass this one). The catalog is also
how the harness knows, at t0, the newest segment the archive had safely captured.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def _sign(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def request(
    cfg: dict[str, str],
    method: str,
    key: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes, dict[str, str]]:
    """One signed S3 request (path-style); returns status, body and headers."""
    endpoint = urllib.parse.urlsplit(cfg["endpoint"])
    path = "/" + cfg["bucket"] + "/" + urllib.parse.quote(key, safe="/-_.~")
    now = datetime.datetime.now(datetime.UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    datestamp = now.strftime("%Y%m%d")
    payload_hash = hashlib.sha256(body).hexdigest()
    all_headers = {
        "host": endpoint.netloc,
        "x-amz-content-sha256": payload_hash,
        "x-amz-date": amz_date,
        **{k.lower(): v for k, v in (headers or {}).items()},
    }
    signed = ";".join(sorted(all_headers))
    canonical = "\n".join(
        [
            method,
            path,
            "",
            "".join(f"{k}:{all_headers[k].strip()}\n" for k in sorted(all_headers)),
            signed,
            payload_hash,
        ]
    )
    region = cfg.get("region", "us-east-1")
    scope = f"{datestamp}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    k = _sign(("AWS4" + cfg["secret_key"]).encode(), datestamp)
    k = _sign(_sign(_sign(k, region), "s3"), "aws4_request")
    signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    all_headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={cfg['access_key']}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    req = urllib.request.Request(
        f"{endpoint.scheme}://{endpoint.netloc}{path}",
        data=body if method == "PUT" else None,
        method=method,
        headers={k: v for k, v in all_headers.items() if k != "host"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers or {})


def push(cfg: dict[str, str], path: str, name: str) -> int:
    with open(path, "rb") as f:
        body = f.read()
    digest = hashlib.sha256(body).hexdigest()
    # An explicit content type: urllib would send form-encoding, which servers may parse.
    headers = {"x-amz-meta-sha256": digest, "content-type": "application/octet-stream"}
    status, text, _ = request(cfg, "PUT", cfg["prefix"] + name, body, headers)
    if status != 200:
        print(f"wal_s3 push {name}: HTTP {status}: {text[:300]!r}", file=sys.stderr)
        return 1
    if cfg.get("catalog"):
        # One short line in append mode: atomic, whatever else appends meanwhile.
        with open(cfg["catalog"], "a") as f:
            f.write(f"{name} {digest} {len(body)} {time.time():.6f}\n")
    return 0


def catalogued(cfg: dict[str, str], name: str) -> str | None:
    """The sha256 the catalog recorded for segment *name* at push, or None."""
    path = cfg.get("catalog")
    if not path or not os.path.exists(path):
        return None
    found = None
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0] == name:
                found = parts[1]  # the last push of a name wins
    return found


def fetch(cfg: dict[str, str], name: str, dest: str) -> int:
    status, body, headers = request(cfg, "GET", cfg["prefix"] + name)
    if status == 404:
        return 1  # normal at the end of the archive: recovery then stops asking
    if status != 200:
        print(f"wal_s3 fetch {name}: HTTP {status}: {body[:300]!r}", file=sys.stderr)
        return 2
    actual = hashlib.sha256(body).hexdigest()
    expected = {k.lower(): v for k, v in headers.items()}.get("x-amz-meta-sha256")
    if expected and actual != expected:
        print(f"wal_s3 fetch {name}: checksum mismatch, refusing the segment", file=sys.stderr)
        return 3
    recorded = catalogued(cfg, name)
    if recorded and actual != recorded:
        print(
            f"wal_s3 fetch {name}: sha256 {actual[:12]} is not the {recorded[:12]} the "
            "catalog recorded at push, refusing the segment",
            file=sys.stderr,
        )
        return 3
    tmp = dest + ".wal_s3.tmp"
    with open(tmp, "wb") as f:
        f.write(body)
    os.replace(tmp, dest)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[0] not in ("push", "fetch"):
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        cfg = json.load(f)
    if argv[0] == "push":
        return push(cfg, argv[2], argv[3])
    return fetch(cfg, argv[2], argv[3])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
