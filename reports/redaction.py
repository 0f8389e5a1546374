"""The last line of defence: no secret reaches an artefact, whatever a record carries.

The engine redacts commands and output as it records them, but a record also carries
text nobody filtered: exception messages in findings, NOT RUN reasons, step notes,
check values. Under pytest-xdist the controller that writes the reports does not even
know the secrets a worker registered. So every artefact writer passes its data through
:func:`scrub` first, which applies :func:`drillbook.redact.redact` (known values plus
secret *shapes*: ``user:pw@`` URLs, ``password=``, ``*_SECRET=...``) to every string,
and additionally masks the *values* of secret-looking environment variables
(``PGPASSWORD``, ``AWS_SECRET_ACCESS_KEY``, ``REDIS_PASSWORD``...) and the passwords of
URLs found in the environment (``DRILLBOOK_EXTERNAL_POSTGRES``): an environment
variable's value printed by a command has no recognisable shape of its own.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from drillbook.redact import MASK, known_secrets, redact

#: Environment variable names whose values are secrets.
SECRET_ENV_NAME = re.compile(
    r"(PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY|ACCESS_KEY|API_KEY)",
    re.IGNORECASE,
)
#: Shorter values are not masked: masking "1" or "yes" everywhere would shred a report.
MIN_SECRET_LEN = 4
_NOT_SECRET_VALUES = {"true", "false", "yes", "no", "none", "null", "0", "1"}


def _url_password(value: str) -> str | None:
    if "://" not in value or "@" not in value:
        return None
    try:
        parts = urlsplit(value.strip())
        password = parts.password
    except ValueError:
        return None
    if not password or password.startswith("$"):
        return None
    return unquote(password)


def env_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Secret values found in the environment, longest first."""
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
    return sorted((s for s in found if len(s) >= MIN_SECRET_LEN), key=len, reverse=True)


class Scrubber:
    """Redacts strings, and whole JSON-like structures, with one fixed set of secrets."""

    def __init__(self, extra: Iterable[str] = (), environ: Mapping[str, str] | None = None):
        values = {*env_secrets(environ), *known_secrets(), *(e for e in extra if e)}
        self.secrets = sorted(
            (v for v in values if len(v) >= MIN_SECRET_LEN), key=len, reverse=True
        )

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
        HTML-escaped). Shapes are not applied here: on rendered markup or JSON a shape
        pattern could swallow syntax; they were applied to the data before rendering.
        """
        for secret in self.secrets:
            for form in {secret, html.escape(secret), html.escape(secret, quote=False)}:
                if form in document:
                    document = document.replace(form, MASK)
        return document


def scrubber(extra: Iterable[str] = ()) -> Scrubber:
    return Scrubber(extra)
