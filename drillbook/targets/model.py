"""What a loaded targets file holds: typed, frozen, JSON-ready (``to_dict``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from drillbook.targets.backups import BackupMethod
from drillbook.targets.errors import TargetsError, show, suggest

SERVICE_KINDS: tuple[str, ...] = ("postgres", "redis", "s3")
RTO_CLOCKS: tuple[str, ...] = ("fault", "detection")


@dataclass(frozen=True)
class Settings:
    """The optional ``[settings]`` table."""

    default_rto_clock: str = "fault"

    def to_dict(self) -> dict[str, Any]:
        return {"default_rto_clock": self.default_rto_clock}


def _plain(value: Any) -> Any:
    """A sub-table's parsed value as JSON: its ``to_dict()`` when it has one."""
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value


@dataclass(frozen=True, kw_only=True)
class ServiceTarget:
    """One service's targets. Durations are in seconds, sizes in bytes.

    ``rto_clock`` is resolved (the service's own value or ``settings.default_rto_clock``):
    ``fault`` measures RTO from t0, ``detection`` from the first failed probe.
    ``rpo_bound`` is the best (smallest) bound among the backup methods; None when every
    method is ``rebuild``. ``subtables`` holds what the registered sub-table parsers
    (:mod:`drillbook.targets.subtables`) made of ``[services.<name>.<sub-table>]``.
    """

    name: str
    kind: str
    tier: str | None = None
    rto: float
    rpo: float
    rto_clock: str = "fault"
    backups: tuple[BackupMethod, ...] = ()
    rpo_bound: float | None = None
    production_size: int | None = None
    description: str | None = None
    runbook: str | None = None
    subtables: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # Built by hand (tests, other tools) without a bound: derive it from the methods.
        if self.rpo_bound is None:
            bounds = [m.rpo_bound for m in self.backups if m.rpo_bound is not None]
            if bounds:
                object.__setattr__(self, "rpo_bound", min(bounds))

    def bound_meets_target(self) -> bool | None:
        """Whether the declared mechanisms can meet the RPO target; None if not applicable."""
        if self.rpo_bound is None:
            return None
        return self.rpo_bound <= self.rpo + 1e-9

    def bounding_method(self) -> BackupMethod | None:
        """The backup method whose bound is the service's bound."""
        bounded = [m for m in self.backups if m.rpo_bound is not None]
        return min(bounded, key=lambda m: m.rpo_bound or 0.0) if bounded else None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "tier": self.tier,
            "rto": self.rto,
            "rpo": self.rpo,
            "rto_clock": self.rto_clock,
            "backups": [m.to_dict() for m in self.backups],
            "rpo_bound": self.rpo_bound,
            "bound_meets_target": self.bound_meets_target(),
            "production_size": self.production_size,
            "description": self.description,
            "runbook": self.runbook,
        }
        if self.subtables:
            data["subtables"] = {key: _plain(value) for key, value in self.subtables.items()}
        return data


@dataclass(frozen=True)
class Targets:
    """A loaded targets file: services by name, where it came from, and its sha256."""

    services: dict[str, ServiceTarget] = field(hash=False)
    source: str
    digest: str
    settings: Settings = field(default_factory=Settings)
    # The [runbooks] table (runbook names -> the drill's): a
    # drillbook.runbook.mapping.RunbookMapping, parsed by that module from the plain table.
    runbooks: Any = field(default=None, hash=False, compare=False)

    def get(self, service: str) -> ServiceTarget:
        """The named service, or a TargetsError listing the known ones."""
        try:
            return self.services[service]
        except KeyError:
            hint = suggest(service, list(self.services))
            problem = f"unknown service {show(service)}"
            if hint:
                problem += f" (did you mean {hint!r}?)"
            raise TargetsError(
                problem, source=self.source, allowed=", ".join(self.services)
            ) from None

    def __iter__(self) -> Iterator[ServiceTarget]:
        return iter(self.services.values())

    def __len__(self) -> int:
        return len(self.services)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "digest": self.digest,
            "settings": self.settings.to_dict(),
            "services": {name: svc.to_dict() for name, svc in self.services.items()},
        }
