"""``archive_command`` without a Python process per segment: ``sha256sum`` + ``curl``.

PostgreSQL runs ``archive_command`` once per segment, and counts the segment archived
when it exits 0. ``wal_s3.py push`` does it in Python (0.15-0.2 s of start-up and CPU
per segment here, competing with the load being archived); where ``curl`` can sign
requests itself (``--aws-sigv4``, curl 7.75+), :data:`PUSH_SH` does the same in a few
milliseconds: the SHA-256 of the segment, one signed PUT carrying it in the object's
metadata (a PUT is atomic in S3: a killed archiver leaves nothing partial), then the
catalog line ``<name> <sha256> <bytes> <epoch seconds>`` appended, only once S3
acknowledged. The credentials are in a curl config file readable by the server user
alone, never on a command line. Without such a curl, :func:`push_command` is None and
the archive keeps ``wal_s3.py push``.
"""

from __future__ import annotations

import functools
import shlex
import shutil
import subprocess
from pathlib import Path

__all__ = ["PUSH_SH", "curl_signs", "push_command", "write_push"]

PUSH_SH = r"""#!/bin/sh
# drillbook archive_command: PUT one WAL segment to S3, then record it in the catalog.
# Usage: wal-push.sh HOME %p %f     (HOME holds curl.conf, url, region, catalog)
# No proxy from the server's environment: the segment goes to the endpoint, nowhere else.
home=$1; p=$2; f=$3
sha=$(sha256sum "$p") || exit 1
sha=${sha%% *}
size=$(stat -c %s "$p") || exit 1
curl -sS -f --noproxy "*" --max-time 60 -K "$home/curl.conf" \
  --aws-sigv4 "aws:amz:$(cat "$home/region"):s3" \
  -H "x-amz-meta-sha256: $sha" -H "content-type: application/octet-stream" \
  -T "$p" "$(cat "$home/url")$f" || { echo "wal-push $f: PUT failed" >&2; exit 1; }
printf '%s %s %s %s\n' "$f" "$sha" "$size" "$(date +%s.%N)" >> "$(cat "$home/catalog")"
"""


@functools.lru_cache(maxsize=1)
def curl_signs() -> str | None:
    """The path of a ``curl`` that has ``--aws-sigv4``, with ``sha256sum`` and ``stat``
    beside it; None when one is missing."""
    curl = shutil.which("curl")
    if curl is None or shutil.which("sha256sum") is None or shutil.which("stat") is None:
        return None
    try:
        res = subprocess.run([curl, "--help", "all"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return curl if b"--aws-sigv4" in res.stdout else None


def write_push(home: Path, cfg: dict[str, str]) -> Path:
    """The push script and its settings in *home*, from *cfg* (``wal_s3.py``'s config:
    endpoint, bucket, prefix, access_key, secret_key, region, catalog); *home* is made
    the server user's, and private, by the caller."""
    script = home / "wal-push.sh"
    script.write_text(PUSH_SH)
    script.chmod(0o755)
    conf = home / "curl.conf"
    user = f"{cfg['access_key']}:{cfg['secret_key']}".replace("\\", "\\\\").replace('"', '\\"')
    conf.touch(0o600)
    conf.write_text(f'user = "{user}"\n')
    (home / "url").write_text(f"{cfg['endpoint'].rstrip('/')}/{cfg['bucket']}/{cfg['prefix']}")
    (home / "region").write_text(cfg.get("region") or "us-east-1")
    (home / "catalog").write_text(cfg["catalog"])
    return script


def push_command(home: Path) -> str | None:
    """The shell ``archive_command`` for the push script in *home*, or None without it."""
    script = home / "wal-push.sh"
    if curl_signs() is None or not script.exists():
        return None
    return f"/bin/sh {shlex.quote(str(script))} {shlex.quote(str(home))} %p %f"
