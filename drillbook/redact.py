"""Secret redaction: passwords and keys never reach a log, record or report.

Secrets are known by value (a registry the handles fill with their passwords and keys)
and by shape (``user:password@`` in URLs, ``password=...`` in DSNs, ``PGPASSWORD=`` and
``AWS_SECRET_ACCESS_KEY=`` style assignments). Both are applied to everything the engine
records.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

_known: set[str] = set()
_lock = threading.Lock()

_PATTERNS = [
    # scheme://user:password@host
    re.compile(r"(?P<pre>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^@\s]+)(?P<post>@)"),
    # libpq key=value DSNs: password=secret
    re.compile(
        r"(?P<pre>\bpassword\s*=\s*)(?P<secret>'[^']*'|\"[^\"]*\"|\S+)(?P<post>)", re.IGNORECASE
    ),
    # environment assignments and CLI flags carrying secrets
    re.compile(
        r"(?P<pre>\b[A-Z0-9_]*(?:PASSWORD|SECRET|TOKEN|PASSWD|SECRET_ACCESS_KEY)[A-Z0-9_]*\s*[=:]\s*)"
        r"(?P<secret>'[^']*'|\"[^\"]*\"|[^\s'\"]+)(?P<post>)"
    ),
    re.compile(r"(?P<pre>--(?:password|secret|token)[= ])(?P<secret>\S+)(?P<post>)"),
]


def register_secret(*values: str | None) -> None:
    """Remember secret values so that :func:`redact` masks them wherever they appear."""
    with _lock:
        for v in values:
            if v and len(v) >= 4:
                _known.add(v)


def known_secrets() -> list[str]:
    with _lock:
        return sorted(_known, key=len, reverse=True)


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """Mask every known secret and every secret-shaped substring of *text*."""
    if not text:
        return text
    # Shapes first (a known secret masked first could break the key name a shape needs),
    # then known values, repeated: a mask can recreate a secret ("x***" in "xx***").
    for pat in _PATTERNS:
        text = pat.sub(lambda m: f"{m.group('pre')}{MASK}{m.group('post')}", text)
    secrets = [*known_secrets(), *[e for e in extra if e]]
    changed = True
    while changed:
        changed = False
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, MASK)
                changed = True
    return text


def redact_url(url: str) -> str:
    """The URL with its password replaced by ***; the user name stays for context."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    if parts.password is None:
        return redact(url)
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":" + MASK
    return redact(urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}")))


def redact_argv(argv: Iterable[str]) -> list[str]:
    return [redact(str(a)) for a in argv]
