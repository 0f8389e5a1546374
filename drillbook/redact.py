"""Secret redaction: passwords and keys never reach a log, record, report or artefact.

One redactor for the whole run, applied twice: the engine redacts commands, output,
notes and errors as it records them (:func:`redact`), and every artefact writer passes
its data through a :class:`Scrubber` first (a record also carries text nobody filtered,
and under pytest-xdist the controller writing the reports never saw the secrets a
worker registered, so the scrubber adds the secrets found in the environment).

Secrets are known

- by *shape*, whatever their value: ``user:password@`` in URLs, ``password=...`` in
  DSNs, ``PGPASSWORD=`` / ``AWS_SECRET_ACCESS_KEY=`` style assignments, ``--password``;
- by *value*: the registry the handles fill with their passwords and keys
  (:func:`register_secret`), the values of secret-named environment variables and the
  passwords of URLs in the environment (:func:`env_secrets`).

Every known value is redacted, whatever its length (issue 12: a short password is still
a password). A value of 4 characters or more is masked wherever it appears. A shorter
one (1-3 characters) is masked only where it stands as a whole token in a place that
holds secrets: after a secret-named key (``password: ab``, ``"token": "ab"``,
``REDIS_PASS=ab``), after a password flag or command (``-a ab``, ``--password ab``,
``AUTH ab``, ``requirepass ab``), as a URL's password (``redis://:ab@``), or as the
whole text of a value (a note holding only the password). Masking "ab" or "1" in every
word would shred every report (each "1 passed" would become "*** passed") *and* give
the secret away: the masks would mark exactly where it occurs. The shapes above mask
those positions anyway; the registry makes sure the value is also caught where a shape
alone would not look (a lower-case YAML key, a Redis ``AUTH``). The cost, documented
here: a 1-3 character secret printed in free prose ("the password is ab") is not found.
"""

from __future__ import annotations

import functools
import html
import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "***"
#: Known values at least this long are masked anywhere; shorter ones in secret places.
ANYWHERE_LEN = 4

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

# Where a short known secret is masked: the text right before it. A key names a secret
# when it contains a distinctive word anywhere (PGPASSWORD, api_key) or a short one as a
# whole segment (REDIS_PASS, db-auth; not "passed", "author").
_SECRET_KEY = (
    r"\b(?:[a-z0-9_-]{0,40}(?:password|passwd|secret|token|credentials?|api[_-]?key"
    r"|access[_-]?key|requirepass|masterauth)[a-z0-9_-]{0,40}"
    r"|(?:[a-z0-9_-]{0,40}[_-])?(?:pass|pwd|auth)(?:[_-][a-z0-9_-]{0,40})?)"
)
# A quote, plain or as HTML writes it (Scrubber.final runs on rendered pages).
_QUOTE = r"(?:[\"']|&quot;|&#x27;|&#39;)"
_SHORT_CONTEXT = "|".join(
    (
        # a secret-named key and its separator: password=, "token": ", REDIS_PASS=
        rf"(?i:{_SECRET_KEY}{_QUOTE}?\s{{0,4}}[=:]\s{{0,4}}{_QUOTE}?)",
        # a password flag or command: -a ab, --password ab, AUTH ab, requirepass ab
        r"(?i:(?:^|(?<=[\s\"'>;]))(?:-a|--pass(?:word)?|--secret|--token|--auth|auth"
        rf"|requirepass|masterauth)\s{{1,4}}{_QUOTE}?)",
        # a URL's password: scheme://user:ab@
        r"://[^\s/@:]{0,256}:",
    )
)
# ...and what must follow it: the end of the token.
_TOKEN_END = r"(?=$|[\s\"'&;,@/)}\]<])"

#: Environment variable names whose values are secrets.
SECRET_ENV_NAME = re.compile(
    r"(PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY|ACCESS_KEY|API_KEY)",
    re.IGNORECASE,
)
# Flags, not secrets, even under a secret-looking name (GITHUB_TOKEN_ENABLED=true).
_NOT_SECRET_VALUES = {"true", "false", "yes", "no", "none", "null", "0", "1"}


# -- the registry ---------------------------------------------------------------------------


def register_secret(*values: str | None) -> None:
    """Remember secret values so that :func:`redact` masks them wherever they appear."""
    with _lock:
        _known.update(v for v in values if v)


def known_secrets() -> list[str]:
    """The registered secrets, longest first (a longer one goes in one piece)."""
    with _lock:
        return sorted(_known, key=len, reverse=True)


# -- redaction ------------------------------------------------------------------------------


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """Mask every known secret and every secret-shaped substring of *text*."""
    if not text:
        return text
    # Shapes first (a known secret masked first could break the key name a shape needs),
    # then known values, repeated: a mask can recreate a secret ("x***" in "xx***").
    for pat in _PATTERNS:
        text = pat.sub(lambda m: f"{m.group('pre')}{MASK}{m.group('post')}", text)
    secrets = sorted({*known_secrets(), *(e for e in extra if e)}, key=len, reverse=True)
    text = _mask_anywhere(text, [s for s in secrets if len(s) >= ANYWHERE_LEN])
    return _mask_short(text, tuple(s for s in secrets if len(s) < ANYWHERE_LEN))


def _mask_anywhere(text: str, secrets: list[str]) -> str:
    changed = True
    while changed:
        changed = False
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, MASK)
                changed = True
    return text


def _mask_short(text: str, secrets: tuple[str, ...]) -> str:
    """Short secrets: the whole text, or a whole token in a secret place (module doc)."""
    if not secrets:
        return text
    stripped = text.strip()
    if stripped in secrets:
        return text.replace(stripped, MASK)
    return _short_pattern(secrets).sub(lambda m: m.group("pre") + MASK, text)


@functools.lru_cache(maxsize=64)
def _short_pattern(secrets: tuple[str, ...]) -> re.Pattern[str]:
    values = "|".join(re.escape(s) for s in secrets)  # longest first: sorted by redact()
    return re.compile(rf"(?P<pre>{_SHORT_CONTEXT})(?:{values}){_TOKEN_END}")


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


# -- the environment and artefacts ------------------------------------------------------------


def _url_password(value: str) -> str | None:
    if "://" not in value or "@" not in value:
        return None
    try:
        password = urlsplit(value.strip()).password
    except ValueError:
        return None
    if not password or password.startswith("$"):
        return None
    return unquote(password)


def env_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Secret values found in the environment, longest first.

    An environment variable's value printed by a command has no recognisable shape of
    its own, so the values of secret-named variables (``PGPASSWORD``,
    ``AWS_SECRET_ACCESS_KEY``, ``REDIS_PASSWORD``...) and the passwords of URLs
    (``DRILLBOOK_EXTERNAL_POSTGRES``) are secrets by value.
    """
    env = os.environ if environ is None else environ
    found: set[str] = set()
    for name, value in env.items():
        if not value:
            continue
        if SECRET_ENV_NAME.search(name) and value.strip().lower() not in _NOT_SECRET_VALUES:
            found.add(value)
        password = _url_password(value)
        if password:
            found.add(password)
    return sorted(found, key=len, reverse=True)


class Scrubber:
    """Redacts strings, and whole JSON-like structures, with one fixed set of secrets:
    the registry's, the environment's and *extra*."""

    def __init__(self, extra: Iterable[str] = (), environ: Mapping[str, str] | None = None):
        values = {*env_secrets(environ), *known_secrets(), *(e for e in extra if e)}
        self.secrets = sorted(values, key=len, reverse=True)

    def text(self, value: str) -> str:
        if not value:
            return value
        return redact(value, self.secrets)

    def data(self, value: Any) -> Any:
        """A deep copy of *value* with every string (keys included) redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {
                (self.text(k) if isinstance(k, str) else k): self.data(v) for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value

    def final(self, document: str) -> str:
        """A finished artefact with every known secret *value* masked (plain and
        HTML-escaped; short ones only in their secret places). Shapes are not applied
        here: on rendered markup or JSON a shape pattern could swallow syntax; they were
        applied to the data before rendering.
        """
        short: list[str] = []
        for secret in self.secrets:
            forms = {secret, html.escape(secret), html.escape(secret, quote=False)}
            if len(secret) < ANYWHERE_LEN:
                short.extend(forms)
                continue
            for form in forms:
                if form in document:
                    document = document.replace(form, MASK)
        if short:
            ordered = tuple(sorted(set(short), key=len, reverse=True))
            document = _short_pattern(ordered).sub(lambda m: m.group("pre") + MASK, document)
        return document
