"""The environment a runbook's commands see, bound to the drill's servers.

A runbook says ``psql $DATABASE_URL``, ``redis-cli ping``, ``aws s3 cp s3://...``: the
drill gives those names its own servers. Per role (the keys of ``handles``: ``postgres``,
``redis``, ``s3`` or names of the drill's choosing) the first handle of each kind binds
the standard variables, every role binds ``<ROLE>_URL``:

- PostgreSQL: ``DATABASE_URL``, ``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD``,
  ``PGDATABASE``, ``PGDATA`` (the data directory, where the backend has one);
- Redis: ``REDIS_URL``, ``REDIS_HOST``, ``REDIS_PORT``, ``REDISCLI_AUTH`` (redis-cli reads
  the password there, never from argv), ``REDIS_DATA_DIR``;
- S3: ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
  ``AWS_DEFAULT_REGION``, and ``BACKUP_BUCKET`` when the drill names one.

Every secret value is registered for redaction. The values reach the commands through
the environment only: recorded command texts are the runbook's, with ``$VARS``
unexpanded. Outgoing HTTP other than to 127.0.0.1 goes to a dead proxy, instance
metadata is off and the user's AWS/psql/redis-cli dotfiles are not read: a runbook
command cannot reach anything but the drill's servers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillbook.fixtures.base import Capability
from drillbook.redact import register_secret

DEAD_PROXY = "http://127.0.0.1:9"
LOCAL = "127.0.0.1,localhost,::1"


@dataclass
class Binding:
    env: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)  # {placeholder} -> path
    handles: dict[str, Any] = field(default_factory=dict)  # role -> handle
    configs: dict[str, Path] = field(default_factory=dict)  # role -> emulated config file

    def names(self) -> list[str]:
        """The bound variable names (values are never recorded)."""
        return sorted(self.env)

    def role_of_kind(self, kind: str) -> str | None:
        return next((r for r, h in self.handles.items() if getattr(h, "kind", None) == kind), None)


def _role_var(role: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", role).upper() + "_URL"


def _data_dir(handle: Any) -> str | None:
    if not handle.supports(Capability.DATA_DIR):
        return None
    return str(handle.data_dir)


def _postgres(handle: Any) -> dict[str, str]:
    env = {k: v for k, v in handle.env().items() if k != "PGCONNECT_TIMEOUT"}
    env["DATABASE_URL"] = handle.url
    data = _data_dir(handle)
    if data:
        env["PGDATA"] = data
    return env


def _redis(handle: Any) -> dict[str, str]:
    env = {
        "REDIS_URL": handle.url,
        "REDIS_HOST": str(handle.host),
        "REDIS_PORT": str(handle.port),
        "REDISCLI_AUTH": handle.password,
    }
    data = _data_dir(handle)
    if data:
        env["REDIS_DATA_DIR"] = data
    return env


def _s3(handle: Any, workdir: Path) -> dict[str, str]:
    empty = workdir / "home" / ".aws-empty"
    empty.parent.mkdir(parents=True, exist_ok=True)
    empty.touch()
    return {
        "AWS_ENDPOINT_URL": handle.endpoint,
        "AWS_ACCESS_KEY_ID": handle.access_key,
        "AWS_SECRET_ACCESS_KEY": handle.secret_key,
        "AWS_DEFAULT_REGION": handle.region,
        "AWS_REGION": handle.region,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "AWS_PAGER": "",
    }


def redis_config_text(settings: Mapping[str, Any]) -> str:
    """redis.conf lines for a handle's settings (what ``/etc/redis/redis.conf`` shows)."""
    lines = []
    for key, value in settings.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "yes" if value else "no"
        text = str(value)
        lines.append(f"{key} {text}" if text else f'{key} ""')
    return "\n".join(lines) + "\n"


def parse_redis_config(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        value = value.strip()
        out[key.lower()] = "" if value in ('""', "''") else value
    return out


def _refuse_unchecked(handles: Mapping[str, Any]) -> None:
    """The commands are the runbook's shell, run with the servers' credentials: a backend
    that checks what drills change (external) must allow that first (NOT RUN if not)."""
    for handle in handles.values():
        refuse = getattr(handle, "refuse_unchecked", None)
        if refuse is not None:
            refuse("runbook commands")


def bind(
    handles: Mapping[str, Any],
    *,
    workdir: Path,
    bucket: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> Binding:
    """The environment and path placeholders for *handles* (role -> handle)."""
    _refuse_unchecked(handles)
    binding = Binding(handles=dict(handles))
    env = binding.env
    seen: set[str] = set()
    # A role named after its kind binds the standard variables even when listed later.
    ordered = sorted(handles.items(), key=lambda item: item[0] != getattr(item[1], "kind", ""))
    for role, handle in ordered:
        kind = getattr(handle, "kind", "")
        register_secret(*getattr(handle, "secrets", []))
        env[_role_var(role)] = handle.url
        # {redis.data_dir} means the first Redis whatever the drill calls its role.
        names = [role] if kind in seen or kind == role else [role, kind]
        if kind not in seen:
            seen.add(kind)
            if kind == "postgres":
                env.update(_postgres(handle))
            elif kind == "redis":
                env.update(_redis(handle))
            elif kind == "s3":
                env.update(_s3(handle, workdir))
        data = _data_dir(handle) if kind in ("postgres", "redis") else None
        for name in names if data else []:
            binding.values[f"{name}.data_dir"] = str(data)
        if kind == "redis":
            conf = workdir / "etc" / f"redis-{role}.conf"
            conf.parent.mkdir(parents=True, exist_ok=True)
            conf.write_text(redis_config_text(getattr(handle, "settings", {}) or {}))
            binding.configs[role] = conf
            for name in names:
                binding.values[f"{name}.config"] = str(conf)
    if bucket:
        env["BACKUP_BUCKET"] = bucket
    home = workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        RUNBOOK_WORKDIR=str(workdir),
        HOME=str(home),
        PSQLRC="/dev/null",
        REDISCLI_HISTFILE="/dev/null",
        LC_ALL="C.UTF-8",
        http_proxy=DEAD_PROXY,
        https_proxy=DEAD_PROXY,
        HTTP_PROXY=DEAD_PROXY,
        HTTPS_PROXY=DEAD_PROXY,
        ALL_PROXY=DEAD_PROXY,
        no_proxy=LOCAL,
        NO_PROXY=LOCAL,
    )
    env.update(extra or {})
    binding.values["workdir"] = str(workdir)
    return binding
