"""The package layout a wheel and an editable install both resolve.

fixtures/, scenarios/ and reports/ install as drillbook.fixtures, drillbook.scenarios and
drillbook.reports through pyproject's package-dir; every package folder must be listed in
``[tool.setuptools] packages`` or the wheel silently lacks it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed_in_pyproject() -> None:
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {Path(v): k for k, v in setup["package-dir"].items()}
    found = set()
    for folder, name in folders.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *rel.parts]))
    assert found, "no package found"
    assert sorted(found - set(setup["packages"])) == [], "package folders missing in pyproject"
    assert sorted(set(setup["packages"]) - found) == [], "pyproject lists packages that are gone"
    assert not (ROOT / "drillbook" / "fixtures").exists(), "drillbook/fixtures would shadow"


def test_no_file_of_the_package_points_at_the_shared_folder() -> None:
    offenders = []
    for folder in ("drillbook", "fixtures", "scenarios", "reports", "drills", "runbooks"):
        for path in (ROOT / folder).rglob("*"):
            text_file = path.is_file() and path.suffix in (".py", ".md", ".toml", ".yml")
            if text_file and "../shared" in path.read_text(errors="replace"):
                offenders.append(str(path.relative_to(ROOT)))
    if "../shared" in (ROOT / "drills.toml").read_text():
        offenders.append("drills.toml")
    assert offenders == []
