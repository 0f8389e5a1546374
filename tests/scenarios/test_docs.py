"""The documentation cannot rot: the reference page is what the code generates, every
public scenario name is documented, and the guide's example is the drill that runs.

- docs/reference.md equals what docs/gen_reference.py writes now;
- every function and class in a scenario module's ``__all__`` has a docstring of its
  own, and every public function or class a role module defines is in its ``__all__``;
- the code blocks of docs/writing-drills.md marked ``<!-- file: ... -->`` are those
  files, to the byte, and the example drill itself runs here (imported below) as well
  as with ``pytest drills``.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

from drills.guide.test_affiliate_dump import (  # noqa: F401  (the guide's drill runs here too)
    test_affiliate_lost_restored_from_dump,
)

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SERVICES = ("postgres", "redis", "s3")
SHARED = ("drillbook.scenarios.store", "drillbook.scenarios.common")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", DOCS / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _modules() -> list[ModuleType]:
    out = []
    for service in SERVICES:
        package = importlib.import_module(f"drillbook.scenarios.{service}")
        out += [importlib.import_module(f"{package.__name__}.{r}") for r in package.__all__]
    return out + [importlib.import_module(name) for name in SHARED]


def test_reference_page_is_up_to_date() -> None:
    committed = (DOCS / "reference.md").read_text()
    generated = _generator().render()
    assert committed == generated, (
        "docs/reference.md is out of date: run `.venv/bin/python docs/gen_reference.py` "
        "and commit the result"
    )


@pytest.mark.parametrize("module", _modules(), ids=lambda m: m.__name__)
def test_every_public_name_is_documented(module: ModuleType) -> None:
    undocumented = [
        name
        for name in module.__all__
        if (inspect.isfunction(obj := getattr(module, name)) or inspect.isclass(obj))
        and not (obj.__doc__ and not obj.__doc__.startswith(f"{name}("))
    ]
    assert not undocumented, f"{module.__name__}: no docstring for {undocumented}"


@pytest.mark.parametrize("module", _modules(), ids=lambda m: m.__name__)
def test_every_public_definition_is_in_all(module: ModuleType) -> None:
    """A public function or class defined in a module (or in the package behind it) is
    API: it must be listed, so the reference shows it."""
    prefix = module.__name__
    missing = [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and getattr(obj, "__module__", "").startswith(prefix)
        and name not in module.__all__
    ]
    assert not missing, f"{module.__name__}: public but not in __all__: {missing}"


def test_the_guides_examples_are_the_shipped_files() -> None:
    guide = (DOCS / "writing-drills.md").read_text()
    blocks = re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", guide, re.S)
    assert {path for path, _ in blocks} == {
        "drills/guide/test_affiliate_dump.py",
        "drills/guide/affiliate.sql",
    }
    for path, text in blocks:
        assert text == (ROOT / path).read_text(), f"{path} differs from its copy in the guide"


def test_generator_check_mode_flags_a_stale_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gen = _generator()
    page = tmp_path / "reference.md"
    monkeypatch.setattr(gen, "PAGE", page)
    page.write_text("stale\n")
    assert gen.main(["--check"]) == 1
    assert gen.main([]) == 0
    assert gen.main(["--check"]) == 0
