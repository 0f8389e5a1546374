"""``drillbook init``: the files a team's repository needs to run drills.

The templates are package data (``files/``): a ``drills.toml`` with one example service
per kind and commented examples of more, one example drill per kind, the nightly CI job
for GitHub Actions and GitLab CI, and a README of the two commands. Nothing existing is
ever overwritten unless asked (``force``): a scaffold that loses a team's file is worse
than none.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from drillbook import __version__
from drillbook.targets import format_duration, parse_targets
from drillbook.tiertable import TableProblem, TierRow, TierTables

VERSION_MARK = "@DRILLBOOK_VERSION@"

# template file (package data) -> path in the team's repository
MANIFEST: dict[str, str] = {
    "drills.toml": "drills.toml",
    "README.md": "drills/README.md",
    "test_postgres_example.py": "drills/postgres_example/test_postgres_example.py",
    "test_redis_example.py": "drills/redis_example/test_redis_example.py",
    "test_s3_example.py": "drills/s3_example/test_s3_example.py",
    "github-drills.yml": ".github/workflows/drills.yml",
    "gitlab-ci.yml": ".gitlab-ci.yml",
}


class ScaffoldError(RuntimeError):
    """The scaffold cannot be written (existing files, unwritable directory)."""


@dataclass(frozen=True)
class Planned:
    path: Path
    text: str


def template(name: str) -> str:
    text = resources.files("drillbook.scaffold").joinpath("files", name).read_text("utf-8")
    return text.replace(VERSION_MARK, __version__)


def plan(root: Path, *, tables: TierTables | None = None, source: str = "") -> list[Planned]:
    """Every file ``init`` would write under *root*, with its content."""
    out = []
    for name, rel in MANIFEST.items():
        text = template(name)
        if name == "drills.toml" and tables is not None:
            examples = set(parse_targets(text, name).services)
            text += table_services(tables, source, reserved=examples)
        out.append(Planned(root / rel, text))
    return out


def write(planned: list[Planned], *, force: bool = False) -> list[Path]:
    """Write the planned files; refuse (writing nothing) when any exists, unless *force*."""
    existing = [p.path for p in planned if p.path.exists()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise ScaffoldError(f"would overwrite {names}: nothing written (--force overwrites)")
    for p in planned:
        if p.path.is_dir():
            raise ScaffoldError(f"{p.path} is a directory: nothing written")
        folder = next(d for d in p.path.parents if d.exists())
        if not folder.is_dir():
            raise ScaffoldError(f"{folder} is a file, not a folder: nothing written")
    written: list[Path] = []
    for p in planned:
        try:
            p.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.path.with_name(p.path.name + ".drillbook-tmp")
            tmp.write_text(p.text, encoding="utf-8")
            tmp.replace(p.path)
        except OSError as exc:
            done = f"{len(written)} files written before it" if written else "nothing written"
            raise ScaffoldError(f"cannot write {p.path}: {exc.strerror or exc} ({done})") from None
        written.append(p.path)
    return written


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(ch if ch.isprintable() else " " for ch in escaped) + '"'


def _service_block(row: TierRow, source: str, *, active: bool) -> list[str]:
    lines = [
        f"[services.{row.key}]",
        f'kind = "{row.kind or "TODO: postgres | redis | s3"}"',
    ]
    if row.tier:
        lines.append(f"tier = {_toml_string(row.tier)}")
    about = row.name + (": " + row.notes if row.notes else "")
    lines.append(f"description = {_toml_string(about[:160])}")
    lines.append(f'rto = "{format_duration(row.rto)}"')
    lines.append(f'rpo = "{format_duration(row.rpo)}"')
    if row.backups:
        methods = ", ".join(f'"{m}"' for m in row.backups)
        lines.append(f"backup = [{methods}]")
        lines.insert(0, f"# backup inferred from {_toml_string(row.evidence[:80])}: check it")
    else:
        lines.append('backup = ["TODO: the backup method, see drillbook check"]')
    head = f"# {source} line {row.line}: {row.name}"
    if active:
        return [head, *lines]
    return [head + " (commented out: fill in the TODO, then uncomment)"] + [
        f"# {line}" for line in lines
    ]


def table_services(tables: TierTables, source: str, *, reserved: set[str]) -> str:
    """drills.toml text for the services of a tier table (incomplete ones commented out).

    A row named like a service already in the file is commented out and reported too.
    """
    lines = ["", f"# -- services from the tier table in {source} " + "-" * 20, ""]
    for row in tables.rows:
        clash = row.key in reserved
        if clash:
            tables.problems.append(
                TableProblem(row.line, f"{row.name}: named like an example service: rename one")
            )
        lines += [*_service_block(row, source, active=row.complete and not clash), ""]
    return "\n".join(lines)


def check_targets(text: str, source: str) -> None:
    """The written drills.toml must load: a scaffold that ``pytest`` rejects is a bug."""
    parse_targets(text, source)
