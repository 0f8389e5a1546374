"""A small ``aws`` for runbooks on hosts without the AWS CLI (run as a script, boto3).

The S3 part runbooks use, with the AWS CLI's arguments and output:

    aws s3 ls [s3://BUCKET[/PREFIX]] [--recursive]
    aws s3 cp SRC DST [--recursive]         # local <-> s3, s3 -> s3
    aws s3 sync SRC DST [--delete]
    aws s3 rm s3://BUCKET/KEY [--recursive]
    aws s3 mb s3://BUCKET
    aws s3api OPERATION --param value ...   # any S3 API call: head-object,
        [--query JMESPATH] [--output json|text]   list-object-versions, get-object OUTFILE,
                                                  copy-object, put-bucket-versioning ...

The endpoint and keys come from the environment (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ...), as for the real CLI. Exit 255 with the CLI's message on an
S3 error, 252 on a usage error.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from pathlib import Path
from typing import Any

import boto3
import jmespath
from botocore.config import Config
from botocore.exceptions import ClientError

_INT_PARAMS = frozenset({"MaxKeys", "MaxUploads", "PartNumber", "MaxParts", "Days"})


def client() -> Any:
    return boto3.client(
        "s3",
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )


def split(url: str) -> tuple[str, str]:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key


def _objects(c: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out += page.get("Contents", [])
    return out


def _stamp(when: datetime.datetime) -> str:
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def ls(c: Any, args: list[str]) -> int:
    paths = [a for a in args if not a.startswith("--")]
    if not paths:
        for b in c.list_buckets().get("Buckets", []):
            print(f"{_stamp(b['CreationDate'])} {b['Name']}")
        return 0
    bucket, prefix = split(paths[0])
    if "--recursive" in args:
        for o in _objects(c, bucket, prefix):
            print(f"{_stamp(o['LastModified'])} {o['Size']:>10} {o['Key']}")
        return 0
    pages = c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
    found = False
    base = prefix[: prefix.rfind("/") + 1]  # names are shown relative to this "folder"
    for page in pages:
        for p in page.get("CommonPrefixes", []):
            found = True
            print(f"{'PRE':>30} {p['Prefix'][len(base) :]}")
        for o in page.get("Contents", []):
            found = True
            print(f"{_stamp(o['LastModified'])} {o['Size']:>10} {o['Key'][len(base) :]}")
    return 0 if found else 1


def _pairs(c: Any, src: str, dst: str, recursive: bool) -> list[tuple[str, str]]:
    """(source, destination) of every object or file a cp/sync moves."""
    if not recursive:
        if dst.endswith("/") or (not dst.startswith("s3://") and Path(dst).is_dir()):
            dst = dst.rstrip("/") + "/" + src.rstrip("/").rsplit("/", 1)[-1]
        return [(src, dst)]
    if src.startswith("s3://"):
        bucket, prefix = split(src)
        base = prefix if prefix.endswith("/") or not prefix else prefix + "/"
        keys = [o["Key"] for o in _objects(c, bucket, base)]
        return [(f"s3://{bucket}/{k}", dst.rstrip("/") + "/" + k[len(base) :]) for k in keys]
    root = Path(src)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return [(str(p), dst.rstrip("/") + "/" + str(p.relative_to(root))) for p in files]


def copy_one(c: Any, src: str, dst: str) -> str:
    if src.startswith("s3://") and dst.startswith("s3://"):
        (sb, sk), (db, dk) = split(src), split(dst)
        c.copy_object(Bucket=db, Key=dk, CopySource={"Bucket": sb, "Key": sk})
        return f"copy: {src} to {dst}"
    if src.startswith("s3://"):
        bucket, key = split(src)
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        c.download_file(bucket, key, dst)
        return f"download: {src} to {dst}"
    bucket, key = split(dst)
    c.upload_file(src, bucket, key)
    return f"upload: {src} to {dst}"


def cp(c: Any, args: list[str], *, sync: bool = False) -> int:
    paths = [a for a in args if not a.startswith("--")]
    if len(paths) != 2:
        print("usage: aws s3 cp|sync SRC DST", file=sys.stderr)
        return 252
    src, dst = paths
    pairs = _pairs(c, src, dst, recursive=sync or "--recursive" in args)
    for s, d in pairs:
        print(copy_one(c, s, d))
    if sync and "--delete" in args and dst.startswith("s3://"):
        keep = {split(d)[1] for _, d in pairs}
        bucket, prefix = split(dst)
        for o in _objects(c, bucket, prefix):
            if o["Key"] not in keep:
                c.delete_object(Bucket=bucket, Key=o["Key"])
                print(f"delete: s3://{bucket}/{o['Key']}")
    return 0


def rm(c: Any, args: list[str]) -> int:
    bucket, key = split(next(a for a in args if a.startswith("s3://")))
    keys = [o["Key"] for o in _objects(c, bucket, key)] if "--recursive" in args else [key]
    for k in keys:
        c.delete_object(Bucket=bucket, Key=k)
        print(f"delete: s3://{bucket}/{k}")
    return 0


def _param(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if hasattr(value, "read"):
        return None
    return value


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(_text(v) if isinstance(v, list) else str(v) for v in value)
    if isinstance(value, dict):
        return "\t".join(str(v) for v in value.values())
    return str(value)


def s3api(c: Any, args: list[str]) -> int:
    op, rest = args[0], args[1:]
    params: dict[str, Any] = {}
    query = output = outfile = None
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg.startswith("--") and i + 1 < len(rest) and not rest[i + 1].startswith("--"):
            name, value = arg[2:], rest[i + 1]
            if name == "query":
                query = value
            elif name == "output":
                output = value
            else:
                key = _param(name)
                params[key] = int(value) if key in _INT_PARAMS else _json_or(value)
            i += 2
            continue
        outfile = arg
        i += 1
    result = getattr(c, op.replace("-", "_"))(**params)
    if outfile and "Body" in result:
        Path(outfile).write_bytes(result["Body"].read())
    data = _plain(result)
    if query:
        data = jmespath.search(query, data)
    print(_text(data) if output == "text" else json.dumps(data, indent=4, default=str))
    return 0


def _json_or(value: str) -> Any:
    if value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("s3", "s3api"):
        print("aws (drillbook's bundled S3 client): aws s3 ls|cp|sync|rm|mb, aws s3api OP")
        return 252
    c = client()
    sub, args = argv[1], argv[2:]
    try:
        if argv[0] == "s3api":
            return s3api(c, [sub, *args])
        if sub == "mb":
            c.create_bucket(Bucket=split(args[0])[0])
            print(f"make_bucket: {split(args[0])[0]}")
            return 0
        handlers = {"ls": ls, "rm": rm, "cp": cp}
        if sub == "sync":
            return cp(c, args, sync=True)
        if sub not in handlers:
            print(f"aws s3 {sub}: not in drillbook's bundled client", file=sys.stderr)
            return 252
        return int(handlers[sub](c, args))
    except ClientError as exc:
        err = exc.response.get("Error", {})
        print(
            f"An error occurred ({err.get('Code')}) when calling the "
            f"{exc.operation_name} operation: {err.get('Message')}",
            file=sys.stderr,
        )
        return 255


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
